"""What the docks show, computed without Qt: loading neurons, layer data, tables.

- :mod:`~napari_crant.scene.loading`: neurons from the query core (:func:`load_neurons`,
  :class:`LoadResult`, :func:`current_annotations`, :func:`pick_demo_neuron`);
- :mod:`~napari_crant.scene.layer_data`: the :class:`Scene` and its napari layer data
  (axes, colours, vectors, points);
- :mod:`~napari_crant.scene.tables`: partner tables, adjacency labels, exports.

Examples
--------
>>> from napari_crant.scene import Scene, load_neurons, run_to_end  # doctest: +SKIP
>>> scene = Scene()  # doctest: +SKIP
>>> scene.add(run_to_end(load_neurons([root_id], dataset="demo")))  # doctest: +SKIP
"""

from napari_crant.scene.layer_data import Scene
from napari_crant.scene.loading import (
    LoadResult,
    current_annotations,
    load_neurons,
    pick_demo_neuron,
    run_to_end,
)
from napari_crant.scene.neuron_data import NeuronData
from napari_crant.scene.tables import export_table, partner_table

__all__ = [
    "LoadResult",
    "NeuronData",
    "Scene",
    "current_annotations",
    "export_table",
    "load_neurons",
    "partner_table",
    "pick_demo_neuron",
    "run_to_end",
]
