"""Tissue: EM and segmentation cutouts, and the demo's synthetic EM and supervoxels.

The synthetic tissue is drawn deterministically and on demand from the demo's geometry, at
any bounding box and mip (see ``docs/tissue.md``). Names are imported lazily, so that the
errors (:mod:`napari_crant.tissue.errors`) and :class:`~napari_crant.tissue.cutout.Cutout`
do not pull in the renderers.
"""

from __future__ import annotations

from napari_crant.lazy_names import lazy_names

_NAMES = {
    "MAX_MIP": "napari_crant.tissue.segmentation",
    "TissueError": "napari_crant.tissue.errors",
    "TissueUnavailable": "napari_crant.tissue.errors",
    "TissueGeometry": "napari_crant.tissue.geometry",
    "TissueVolume": "napari_crant.tissue.volume",
    "render_em": "napari_crant.tissue.em",
    "render_segmentation": "napari_crant.tissue.segmentation",
    "Cutout": "napari_crant.tissue.cutout",
    "TissueLayer": "napari_crant.tissue.cutout",
}

__all__ = sorted(_NAMES)


__getattr__, __dir__ = lazy_names(__name__, _NAMES, globals())
