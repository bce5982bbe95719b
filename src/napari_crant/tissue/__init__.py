"""Synthetic tissue of the demo: EM and supervoxel segmentation drawn from its geometry.

Deterministic and on demand, at any bounding box and mip (see ``docs/tissue.md``).
"""

from napari_crant.tissue.em import render_em
from napari_crant.tissue.geometry import TissueError, TissueGeometry
from napari_crant.tissue.segmentation import MAX_MIP, render_segmentation
from napari_crant.tissue.volume import TissueVolume

__all__ = ["MAX_MIP", "TissueError", "TissueGeometry", "TissueVolume", "render_em",
           "render_segmentation"]
