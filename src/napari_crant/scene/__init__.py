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

from napari_crant.lazy_names import lazy_names

#: the public names and their modules, imported on first use (PEP 562): importing a module of
#: this package (the docks import ``scene.colors``, ``scene.layer_conventions``) does not import
#: pandas, which the loading and table modules need
_EXPORTS = {
    "LoadResult": "napari_crant.scene.loading",
    "NeuronData": "napari_crant.scene.neuron_data",
    "Scene": "napari_crant.scene.layer_data",
    "current_annotations": "napari_crant.scene.loading",
    "export_table": "napari_crant.scene.tables",
    "load_neurons": "napari_crant.scene.loading",
    "partner_table": "napari_crant.scene.tables",
    "pick_demo_neuron": "napari_crant.scene.loading",
    "run_to_end": "napari_crant.scene.loading",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
