"""The tissue around a synapse of a review (Qt-free).

:class:`SynapseTissue` is what the QC dock's EM panel shows at one synapse: the EM cutout
around it, the segmentation cutout (roots at the review's timestamp) and, derived once, the
pre and post segments alone (for an outlined Labels layer) and their contours (for the 3D
plane). :func:`fetch_synapse_tissue` fetches it (slow: in a worker or the demo's renderer
process); :class:`~napari_crant.qc.em_prefetch.EMPrefetch` decides which synapses to fetch
next and keeps what was fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.qc.segment_contours import segment_contours
from napari_crant.queries.tissue import get_em_cutout, get_segmentation_cutout
from napari_crant.tissue.errors import TissueUnavailable

#: the cutout around a synapse: (x, y, z) nm, about 2 x 2 um and 5 sections of 42 nm
CUTOUT_SIZE_NM = (2048.0, 2048.0, 210.0)


@dataclass
class SynapseTissue:
    """The EM and segmentation around one synapse, in (z, y, x) nm world coordinates.

    Attributes
    ----------
    synapse_id, pre_root, post_root
        The synapse and its partners' roots (uint64-safe Python ints; 0: unsegmented).
    center
        The synapse's position, (z, y, x) nm.
    em
        The EM cutout: ``data`` (z, y, x) uint8, ``scale`` and ``translate`` (z, y, x) nm.
    segmentation
        The segmentation cutout on the same grid (roots, uint64), or ``None`` when the source
        had none (the reason in :attr:`notes`).
    outline
        ``segmentation`` with every voxel that is neither the pre nor the post root set to 0.
    contours
        ``outline``'s boundary voxels only, section by section
        (:func:`~napari_crant.qc.segment_contours.segment_contours`): the segments outlined on the
        3D plane, where napari draws no contours.
    notes
        What could not be shown and why (e.g. the source has no segmentation).
    """

    synapse_id: int
    pre_root: int
    post_root: int
    center: np.ndarray
    em: Any
    segmentation: Any = None
    outline: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    contours: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.segmentation is not None and self.outline is None:
            self.outline = keep_segments(self.segmentation.data, (self.pre_root, self.post_root))
        if self.outline is not None and self.contours is None:
            self.contours = segment_contours(self.outline)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (what the cache bounds)."""
        n = int(np.asarray(self.em.data).nbytes)
        if self.segmentation is not None:
            n += int(np.asarray(self.segmentation.data).nbytes)
        for derived in (self.outline, self.contours):
            if derived is not None:
                n += int(derived.nbytes)
        return n

    def index_of(self, world_zyx: Any, cutout: Any = None) -> tuple[int, int, int] | None:
        """The voxel of ``cutout`` (default: the EM) drawn at a (z, y, x) nm position (``None``: outside)."""
        cutout = self.em if cutout is None else cutout
        pos = np.asarray(world_zyx, np.float64)[-3:]
        idx = np.floor((pos - np.asarray(cutout.translate, np.float64))
                       / np.asarray(cutout.scale, np.float64) + 0.5).astype(np.int64)
        shape = np.asarray(cutout.data).shape
        if np.any(idx < 0) or np.any(idx >= shape):
            return None
        return int(idx[0]), int(idx[1]), int(idx[2])

    def root_at(self, world_zyx: Any) -> int | None:
        """The root at a (z, y, x) nm position (0: no segment; ``None``: outside or no segmentation)."""
        if self.segmentation is None:
            return None
        idx = self.index_of(world_zyx, self.segmentation)
        if idx is None:
            return None
        return int(np.asarray(self.segmentation.data)[idx])

    def section_z(self) -> np.ndarray:
        """The z (nm) of each section of the cutout."""
        nz = np.asarray(self.em.data).shape[0]
        return float(self.em.translate[0]) + float(self.em.scale[0]) * np.arange(nz)


def keep_segments(labels: Any, roots: Any) -> np.ndarray:
    """``labels`` with every voxel not holding one of ``roots`` set to 0 (uint64, a copy).

    Parameters
    ----------
    labels
        A segmentation array of root IDs.
    roots
        The IDs to keep (0 is never kept).
    """
    arr = np.asarray(labels, dtype=np.uint64)
    keep = np.asarray([int(r) for r in roots if int(r) != 0], dtype=np.uint64)
    return np.where(np.isin(arr, keep), arr, np.uint64(0)).astype(np.uint64)


def fetch_synapse_tissue(row: pd.Series, dataset: Any, materialization: Any = "latest",
                         size_nm: Any = CUTOUT_SIZE_NM, mip: int = 0) -> SynapseTissue:
    """The EM and segmentation around the synapse of a worklist row (slow: run it in a worker).

    Parameters
    ----------
    row
        A worklist row (:func:`~napari_crant.qc.worklist.build_worklist`): ``synapse_id``,
        ``x, y, z`` (nm, the reviewed neuron's side of the synapse), ``pre_pt_root_id``,
        ``post_pt_root_id``.
    dataset
        Dataset name, snapshot path or source.
    materialization
        Whose timestamp the segmentation's roots are taken at (``None``: ``'latest'``).
    size_nm
        ``(x, y, z)`` extent of the cutout in nm.
    mip
        Mip level of the EM and segmentation.

    Returns
    -------
    SynapseTissue
        Without segmentation (and a note saying why) when the dataset has EM but no segmentation.

    Raises
    ------
    InvalidArgumentError
        The synapse lies outside the volume (or a bad size or mip).
    TissueUnavailable
        The dataset has no EM, or it cannot be read (network lost).
    """
    center = (float(row["x"]), float(row["y"]), float(row["z"]))
    em = get_em_cutout(center, size_nm, mip, dataset=dataset)
    notes: list[str] = []
    try:
        seg = get_segmentation_cutout(center, size_nm, mip, materialization=materialization or "latest",
                                      dataset=dataset)
    except TissueUnavailable as e:
        seg = None
        notes.append(f"No segments outlined: {e}")
    return SynapseTissue(int(row["synapse_id"]), int(row["pre_pt_root_id"]), int(row["post_pt_root_id"]),
                         np.array(center[::-1], np.float64), em, seg, notes=notes)


def synapse_key(row: pd.Series) -> int:
    """The cache key of a worklist row: its synapse ID."""
    return int(row["synapse_id"])
