"""Supervoxel segmentation of the synthetic tissue, and what the EM renderer shares with it.

Mip ``m`` has voxels ``2**m`` times larger in x and y than mip 0 (8 x 8 x 42 nm), z
unchanged, like CRANTb's precomputed layers. Bounding boxes are half-open
``((x0, y0, z0), (x1, y1, z1))`` in the voxels of the requested mip. Segmentation at mip
``m`` samples mip-0 voxel ``(i * 2**m, j * 2**m, k)`` (strided downsampling).
"""

from __future__ import annotations

import threading

import numpy as np

from napari_crant.tissue.fields import LabelField, label_field
from napari_crant.tissue.geometry import TissueError, TissueGeometry
from napari_crant.tissue.primitives import (
    BOUTON,
    Primitives,
    SpatialIndex,
    neurite_primitives,
    synapse_primitives,
)

#: Highest mip level served.
MAX_MIP = 7
#: Largest cutout rendered in one call (voxels).
MAX_VOXELS = 64 * 1024 * 1024
#: Depths are known this far outside cells (membranes, extracellular space, filler).
MARGIN_NM = 80.0
DEFAULT_SEED = 0
_MODELS_LOCK = threading.Lock()


class TissueModel:
    """The primitives of a geometry, indexed; built once per (geometry, seed)."""

    def __init__(self, geom: TissueGeometry, seed: int):
        self.geom = geom
        self.seed = seed
        self.prims = Primitives.concat([synapse_primitives(geom, seed),
                                        neurite_primitives(geom)])
        self.index = SpatialIndex(self.prims)
        # a synapse's T-bar, cleft, density and vesicles are drawn around its pre point, up to
        # MARGIN_NM beyond a bouton's radius; the bouton's sphere is centred half a radius off
        # that point, so the shapes near a box are those within this reach (not MARGIN_NM: a box
        # beside a bouton missed its decorations, a seam between chunks)
        boutons = self.prims.ra[self.prims.kind == BOUTON]
        self.reach = MARGIN_NM + (0.5 * float(boutons.max()) if len(boutons) else 0.0)

    def near(self, lo_nm: np.ndarray, hi_nm: np.ndarray) -> Primitives:
        """The primitives that can touch the box ``lo_nm``-``hi_nm``: a shape within
        ``MARGIN_NM`` of it, or a synapse whose decorations reach it (see :attr:`reach`)."""
        return self.prims.take(self.index.query(lo_nm, hi_nm, self.reach))


def model_of(geom: TissueGeometry, seed: int = DEFAULT_SEED) -> TissueModel:
    """The (cached) :class:`TissueModel` of ``geom``."""
    if not isinstance(geom, TissueGeometry):
        raise TissueError(f"expected a TissueGeometry, got {type(geom).__name__}")
    with _MODELS_LOCK:  # built once per geometry and seed, even under concurrent requests
        models = geom.__dict__.setdefault("_models", {})
        if seed not in models:
            models[seed] = TissueModel(geom, int(seed))
        return models[seed]


def check_mip(mip) -> int:
    """Validate a mip level."""
    if isinstance(mip, bool) or not isinstance(mip, (int, np.integer)):
        raise TissueError(f"mip must be an integer, got {mip!r}")
    if not 0 <= int(mip) <= MAX_MIP:
        raise TissueError(f"mip {mip} is out of range: 0 to {MAX_MIP}")
    return int(mip)


def volume_shape(geom: TissueGeometry, mip: int) -> np.ndarray:
    """Size of the volume in voxels of ``mip`` (x, y, z)."""
    v = geom.volume_voxels
    f = 1 << check_mip(mip)
    return np.array([-(-v[0] // f), -(-v[1] // f), v[2]], dtype=np.int64)


def check_bbox(geom: TissueGeometry, bbox_vox, mip) -> tuple[np.ndarray, np.ndarray]:
    """Validate a bounding box; returns ``(lo, hi)`` as int64 arrays.

    Raises
    ------
    TissueError
        If the box is malformed, empty, too large or not inside the volume.
    """
    if not isinstance(geom, TissueGeometry):
        raise TissueError(f"expected a TissueGeometry, got {type(geom).__name__}")
    mip = check_mip(mip)
    try:
        arr = np.asarray(bbox_vox, dtype=np.float64)
    except (TypeError, ValueError):
        raise TissueError(f"bounding box must be ((x0, y0, z0), (x1, y1, z1)), got {bbox_vox!r}"
                          ) from None
    if arr.shape != (2, 3) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise TissueError("bounding box must be ((x0, y0, z0), (x1, y1, z1)) in whole voxels, "
                          f"got {bbox_vox!r}")
    lo, hi = arr[0].astype(np.int64), arr[1].astype(np.int64)
    if np.any(hi <= lo):
        raise TissueError(f"bounding box {lo.tolist()}-{hi.tolist()} is empty (need x0 < x1, "
                          "y0 < y1, z0 < z1)")
    size = volume_shape(geom, mip)
    if np.any(lo < 0) or np.any(hi > size):
        raise TissueError(f"bounding box {lo.tolist()}-{hi.tolist()} at mip {mip} is outside "
                          f"the volume (0, 0, 0)-{size.tolist()}")
    if int(np.prod(hi - lo)) > MAX_VOXELS:
        raise TissueError(f"bounding box of {int(np.prod(hi - lo))} voxels is larger than "
                          f"{MAX_VOXELS}; ask for smaller cutouts or a coarser mip")
    return lo, hi


def sample_axes(geom: TissueGeometry, lo: np.ndarray, hi: np.ndarray, mip: int,
                centred: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """nm coordinates of the samples along x, y, z.

    ``centred``: the centre of each mip voxel's footprint (EM); otherwise its first mip-0
    voxel (strided segmentation).
    """
    f = 1 << mip
    res = geom.voxel_resolution
    shift = (f - 1) / 2.0 if centred else 0.0
    xs = (np.arange(lo[0], hi[0]) * f + shift) * res[0]
    ys = (np.arange(lo[1], hi[1]) * f + shift) * res[1]
    zs = np.arange(lo[2], hi[2]) * res[2]
    return xs.astype(np.float64), ys.astype(np.float64), zs.astype(np.float64)


def field_for(model: TissueModel, xs: np.ndarray, ys: np.ndarray,
              zs: np.ndarray) -> LabelField:
    lo = np.array([xs[0], ys[0], zs[0]])
    hi = np.array([xs[-1], ys[-1], zs[-1]])
    return label_field(model.near(lo, hi), xs, ys, zs, MARGIN_NM)


def _on_lattice(geom: TissueGeometry, pts: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                mip: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``pts`` whose mip-0 voxel is sampled in the box, and their box index."""
    f = np.array([1 << mip, 1 << mip, 1])
    vox = np.round(pts / geom.voxel_resolution).astype(np.int64)
    ok = np.all(vox % f == 0, axis=1)
    vox = vox // f
    inside = np.flatnonzero(ok & np.all((vox >= lo) & (vox < hi), axis=1))
    return inside, vox[inside] - lo


def force_node_voxels(geom: TissueGeometry, f: LabelField, labels: np.ndarray,
                      lo: np.ndarray, hi: np.ndarray, mip: int) -> None:
    """Set the voxel of every skeleton node in the box to the node's supervoxel, where that
    voxel belongs to the node's own cell (in place).

    Within one cell, which half-segment is deepest at a node is a matter of radii; this makes
    the node's own L2 chunk win there. A node inside another cell's profile is left alone.
    """
    rows, v = _on_lattice(geom, geom.node_pos, lo, hi, mip)
    idx = (v[:, 0], v[:, 1], v[:, 2])
    own = f.cell[idx] == geom.node_cell[rows]
    labels[tuple(i[own] for i in idx)] = geom.node_sv[rows[own]]


def force_synapse_voxels(geom: TissueGeometry, labels: np.ndarray, lo: np.ndarray,
                         hi: np.ndarray, mip: int) -> None:
    """Set the voxel of every synapse point in the box to its supervoxel (in place).

    All pre points first, then all post points, in row order: where two points share a
    voxel, the later one wins, the same in every cutout. At mip ``m`` only points on the
    sampled (strided) mip-0 voxels are set.
    """
    for pts, svs in ((geom.syn_pre, geom.syn_pre_sv), (geom.syn_post, geom.syn_post_sv)):
        rows, v = _on_lattice(geom, pts, lo, hi, mip)
        labels[v[:, 0], v[:, 1], v[:, 2]] = svs[rows]


def render_segmentation(geom: TissueGeometry, bbox_vox, mip: int = 0, *,
                        seed: int = DEFAULT_SEED) -> np.ndarray:
    """Supervoxel IDs of a cutout of the synthetic tissue.

    Parameters
    ----------
    geom
        The geometry (:meth:`TissueGeometry.from_snapshot`).
    bbox_vox
        ``((x0, y0, z0), (x1, y1, z1))``, half-open, in voxels of ``mip``.
    mip
        0 (8 x 8 x 42 nm) to ``MAX_MIP``; each level halves x and y.
    seed
        Seed of the tissue's texture (shapes of boutons and spines).

    Returns
    -------
    numpy.ndarray
        uint64 array of shape ``(x1 - x0, y1 - y0, z1 - z0)``; 0 is extracellular. The
        voxel of every synapse's pre (post) point holds its ``pre_pt_supervoxel_id``
        (``post_pt_supervoxel_id``); the voxel of a skeleton node lying in its own cell holds
        the node's supervoxel.

    Raises
    ------
    TissueError
        For a malformed box, a box outside the volume or a bad mip.
    """
    lo, hi = check_bbox(geom, bbox_vox, mip)
    mip = int(mip)
    model = model_of(geom, seed)
    xs, ys, zs = sample_axes(geom, lo, hi, mip, centred=False)
    return labels_of_field(geom, field_for(model, xs, ys, zs), lo, hi, mip)


def labels_of_field(geom: TissueGeometry, f: LabelField, lo: np.ndarray, hi: np.ndarray,
                    mip: int) -> np.ndarray:
    """The supervoxels of the box ``lo``-``hi`` of ``mip`` from its label field, sampled as
    :func:`render_segmentation` samples it (the first mip-0 voxel of each footprint)."""
    labels = np.where(f.depth >= 0, f.sv, np.uint64(0))
    force_node_voxels(geom, f, labels, lo, hi, mip)
    force_synapse_voxels(geom, labels, lo, hi, mip)
    return labels

