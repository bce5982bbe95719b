"""napari-crant: the CRANTb connectome (clonal raider ant brain) in Python and napari.

The public API is imported lazily, so that napari's start-up (which imports this package
to find the plugin manifest) does not pay for pandas, DuckDB or navis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "get_synapses": "napari_crant.queries.synapses",
    "get_connectivity": "napari_crant.queries.connectivity",
    "get_synapse_counts": "napari_crant.queries.connectivity",
    "get_adjacency": "napari_crant.queries.adjacency",
    "attach_synapses": "napari_crant.queries.attach",
    "update_ids": "napari_crant.queries.update",
    "clear_update_cache": "napari_crant.queries.update",
    "NeuronCriteria": "napari_crant.queries.criteria",
    "NoMatchError": "napari_crant.queries.criteria",
    "get_l2_skeleton": "napari_crant.queries.skeleton",
    "get_annotations": "napari_crant.queries.annotations",
    "list_versions": "napari_crant.queries.annotations",
    "set_default_dataset": "napari_crant.datasets",
    "get_default_dataset": "napari_crant.datasets",
    "register_dataset": "napari_crant.datasets",
    "get_source": "napari_crant.datasets",
    "DatasetError": "napari_crant.datasets",
    "InvalidIDError": "napari_crant.ids",
    "InvalidArgumentError": "napari_crant.arguments",
    "UnknownIDError": "napari_crant.queries.update",
    "MaterializationError": "napari_crant.materialization",
    "SnapshotSource": "napari_crant.sources.snapshot",
    "make_demo": "napari_crant.demo",
    "view": "napari_crant._qt.view",
    "read_session": "napari_crant.session_file",
    "write_session": "napari_crant.session_file",
    "SessionFileError": "napari_crant.session_file",
    "neuroglancer_url": "napari_crant.neuroglancer",
    "get_em_cutout": "napari_crant.queries.tissue",
    "get_segmentation_cutout": "napari_crant.queries.tissue",
    "Cutout": "napari_crant.tissue.cutout",
    "get_mesh": "napari_crant.queries.meshes",
    "get_neuropil_meshes": "napari_crant.queries.meshes",
    "get_brain_mesh": "napari_crant.queries.meshes",
    "TissueUnavailable": "napari_crant.tissue.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'napari_crant' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from napari_crant._qt.view import view
    from napari_crant.arguments import InvalidArgumentError
    from napari_crant.datasets import (
        DatasetError,
        get_default_dataset,
        get_source,
        register_dataset,
        set_default_dataset,
    )
    from napari_crant.demo import make_demo
    from napari_crant.ids import InvalidIDError
    from napari_crant.materialization import MaterializationError
    from napari_crant.neuroglancer import neuroglancer_url
    from napari_crant.queries.adjacency import get_adjacency
    from napari_crant.queries.annotations import get_annotations, list_versions
    from napari_crant.queries.attach import attach_synapses
    from napari_crant.queries.connectivity import get_connectivity, get_synapse_counts
    from napari_crant.queries.criteria import NeuronCriteria, NoMatchError
    from napari_crant.queries.meshes import get_brain_mesh, get_mesh, get_neuropil_meshes
    from napari_crant.queries.skeleton import get_l2_skeleton
    from napari_crant.queries.synapses import get_synapses
    from napari_crant.queries.tissue import get_em_cutout, get_segmentation_cutout
    from napari_crant.queries.update import UnknownIDError, clear_update_cache, update_ids
    from napari_crant.session_file import SessionFileError, read_session, write_session
    from napari_crant.sources.snapshot import SnapshotSource
    from napari_crant.tissue.cutout import Cutout
    from napari_crant.tissue.errors import TissueUnavailable

# The built-in sources (snapshot directories, CAVE) register with napari_crant.datasets on
# import of napari_crant.sources; its factories import the sources themselves on first use.
from napari_crant import sources as _sources  # noqa: E402
