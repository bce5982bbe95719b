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

from importlib import import_module
from typing import Any

#: the public names and their modules, imported on first use (PEP 562): importing a module of
#: this package (the docks import ``scene.colors``, ``scene.layer_conventions``) does not import
#: pandas, which the loading and table modules need
_EXPORTS = {
    "LoadResult": "loading",
    "NeuronData": "neuron_data",
    "Scene": "layer_data",
    "current_annotations": "loading",
    "export_table": "tables",
    "load_neurons": "loading",
    "partner_table": "tables",
    "pick_demo_neuron": "loading",
    "run_to_end": "loading",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
