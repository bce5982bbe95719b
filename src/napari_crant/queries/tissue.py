"""EM and segmentation cutouts in nm world coordinates: ``get_em_cutout``, ``get_segmentation_cutout``.

A source answers voxel blocks of supervoxels (``DataSource.segmentation_cutout``); the roots
are taken here, through ``roots_of_supervoxels`` at the materialization's timestamp, as for
every other query.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import napari_crant
from napari_crant.arguments import InvalidArgumentError, check_flag
from napari_crant.datasets import get_source
from napari_crant.materialization import Materialization
from napari_crant.queries.common import open_query
from napari_crant.sources.base import DataSource
from napari_crant.tissue.cutout import Cutout, TissueLayer
from napari_crant.tissue.errors import TissueUnavailable

__all__ = ["DEFAULT_SIZE_NM", "MAX_CUTOUT_VOXELS", "get_em_cutout", "get_segmentation_cutout"]

#: Default cutout: about 2 x 2 um and 5 sections of 42 nm.
DEFAULT_SIZE_NM = (2048.0, 2048.0, 210.0)
#: Largest cutout read in one call (voxels).
MAX_CUTOUT_VOXELS = 64 * 1024 * 1024


def _triple(value: Any, name: str, positive: bool) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be three numbers (x, y, z) in nm, not {value!r}") from None
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{name} must be three finite numbers (x, y, z) in nm, not {value!r}")
    if positive and np.any(arr <= 0):
        raise InvalidArgumentError(f"{name} must be > 0 along every axis, not {arr.tolist()}")
    return arr


def _box_nm(center_nm: Any, size_nm: Any, bbox_nm: Any, layer: TissueLayer) -> tuple[np.ndarray, np.ndarray]:
    """The requested box in nm ``(lo, hi)`` (inclusive voxel-centre range), checked."""
    vol_lo, vol_hi = layer.bounds_nm()
    if bbox_nm is not None:
        if center_nm is not None:
            raise InvalidArgumentError("give either center_nm (with size_nm) or bbox_nm, not both")
        try:
            box = np.asarray(bbox_nm, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"bbox_nm must be ((x0, y0, z0), (x1, y1, z1)) in nm, not {bbox_nm!r}") from None
        if box.shape != (2, 3) or not np.all(np.isfinite(box)):
            raise InvalidArgumentError(
                f"bbox_nm must be ((x0, y0, z0), (x1, y1, z1)) of finite nm, not {bbox_nm!r}")
        lo, hi = box
        if np.any(hi <= lo):
            raise InvalidArgumentError(f"bbox_nm {box.tolist()} is empty: need x0 < x1, y0 < y1, z0 < z1")
        if np.any(hi < vol_lo) or np.any(lo > vol_hi):
            raise InvalidArgumentError(
                f"bbox_nm {box.tolist()} is outside the volume ({vol_lo.tolist()} to {vol_hi.tolist()} nm)")
        return lo, hi
    if center_nm is None:
        raise InvalidArgumentError("center_nm is required (or give bbox_nm)")
    centre = _triple(center_nm, "center_nm", positive=False)
    size = _triple(size_nm, "size_nm", positive=True)
    if np.any(centre < vol_lo) or np.any(centre > vol_hi):
        raise InvalidArgumentError(
            f"center_nm {centre.tolist()} is outside the volume ({vol_lo.tolist()} to {vol_hi.tolist()} nm)")
    return centre - size / 2.0, centre + size / 2.0


def _box_vox(lo_nm: np.ndarray, hi_nm: np.ndarray, layer: TissueLayer,
             mip: int) -> tuple[np.ndarray, np.ndarray]:
    """Voxels of ``mip`` whose centres lie in ``[lo_nm, hi_nm)`` (at least one per axis), clipped
    to the volume; half-open. A box centred on a voxel has that voxel at index ``n // 2``."""
    res, shift = layer.resolutions[mip], layer.shift_nm(mip)
    first = np.ceil((lo_nm - shift) / res - 1e-9).astype(np.int64)
    last = np.ceil((hi_nm - shift) / res - 1e-9).astype(np.int64) - 1
    last = np.maximum(last, first)
    lo = np.maximum(first, layer.offsets[mip])
    hi = np.minimum(last + 1, layer.offsets[mip] + layer.sizes[mip])
    if np.any(hi <= lo):
        raise InvalidArgumentError(
            f"the box {lo_nm.tolist()} to {hi_nm.tolist()} nm holds no voxel of the volume at mip {mip}")
    n = int(np.prod(hi - lo))
    if n > MAX_CUTOUT_VOXELS:
        raise InvalidArgumentError(
            f"size_nm asks for {n:,} voxels at mip {mip}, more than {MAX_CUTOUT_VOXELS:,}: "
            "ask for a smaller cutout or a coarser mip")
    return lo, hi


def _cutout(source: DataSource, layer: TissueLayer, data_xyz: np.ndarray, lo: np.ndarray,
            hi: np.ndarray, mip: int, attrs: dict[str, Any]) -> Cutout:
    res = layer.resolutions[mip]
    translate = lo * res + layer.shift_nm(mip)
    factor = np.round(res / layer.resolutions[0]).astype(np.int64)
    size0 = layer.offsets[0] + layer.sizes[0]
    box0 = (tuple(int(v) for v in lo * factor), tuple(int(v) for v in np.minimum(hi * factor, size0)))
    data = np.ascontiguousarray(np.asarray(data_xyz).transpose(2, 1, 0))
    if data.shape != tuple(int(v) for v in (hi - lo)[::-1]):
        raise TissueUnavailable(
            f"dataset {source.name!r} answered a {layer.kind} block of shape {list(data_xyz.shape)} "
            f"for the box {lo.tolist()}-{hi.tolist()} at mip {mip}")
    return Cutout(
        data=data,
        scale=tuple(float(v) for v in res[::-1]),
        translate=tuple(float(v) for v in translate[::-1]),
        mip=mip,
        bbox_vox=box0,
        attrs={**source.describe(), "layer": layer.kind, "url": layer.url, "mip": mip,
               **attrs, "napari_crant_version": napari_crant.__version__},
    )


def _prepare(source: DataSource, kind: str, center_nm: Any, size_nm: Any, bbox_nm: Any,
             mip: Any) -> tuple[TissueLayer, np.ndarray, np.ndarray, int]:
    layer = source.tissue_layer(kind)
    mip = layer.check_mip(mip)
    lo_nm, hi_nm = _box_nm(center_nm, size_nm, bbox_nm, layer)
    lo, hi = _box_vox(lo_nm, hi_nm, layer, mip)
    return layer, lo, hi, mip


def get_em_cutout(center_nm: Any = None, size_nm: Any = DEFAULT_SIZE_NM, mip: int = 0,
                  dataset: Any = None, *, bbox_nm: Any = None) -> Cutout:
    """The EM around a point (e.g. a synapse), ready for ``viewer.add_image``.

    Parameters
    ----------
    center_nm
        ``(x, y, z)`` in nm, as synapse positions are (inside the volume).
    size_nm
        ``(x, y, z)`` extent in nm (default about 2 x 2 um and 5 sections); the block holds
        every voxel whose centre lies within, at least one per axis, clipped to the volume.
    mip
        Mip level of the EM (0 is full resolution; each level halves x and y).
    dataset
        Dataset name, snapshot path or source; the default dataset if None.
    bbox_nm
        Instead of ``center_nm``/``size_nm``: ``((x0, y0, z0), (x1, y1, z1))`` in nm.

    Returns
    -------
    Cutout
        uint8 ``data`` (z, y, x), with ``scale`` and ``translate`` in nm.

    Raises
    ------
    InvalidArgumentError
        A centre outside the volume, a size <= 0 or over ``MAX_CUTOUT_VOXELS``, a bad mip.
    TissueUnavailable
        The dataset has no EM, or it cannot be read (network lost).

    Examples
    --------
    >>> c = get_em_cutout((96000, 51200, 99540), dataset="demo")  # doctest: +SKIP
    >>> viewer.add_image(c.data, scale=c.scale, translate=c.translate)  # doctest: +SKIP
    """
    source = get_source(dataset)
    layer, lo, hi, mip = _prepare(source, "em", center_nm, size_nm, bbox_nm, mip)
    data = source.em_cutout(np.stack([lo, hi]), mip)
    return _cutout(source, layer, np.asarray(data, dtype=np.uint8), lo, hi, mip, {"agglomerate": False})


def get_segmentation_cutout(center_nm: Any = None, size_nm: Any = DEFAULT_SIZE_NM, mip: int = 0,
                            materialization: Any = "latest", agglomerate: bool = True,
                            dataset: Any = None, *, bbox_nm: Any = None) -> Cutout:
    """The segmentation around a point: roots at a materialization's timestamp, or supervoxels.

    Parameters
    ----------
    center_nm, size_nm, mip, bbox_nm
        As for :func:`get_em_cutout` (mip of the segmentation volume).
    materialization
        ``'latest'``, ``'live'``, a version or a time: roots are those alive at its timestamp,
        as in every other query.
    agglomerate
        True: root IDs; False: supervoxel IDs.
    dataset
        Dataset name, snapshot path or source; the default dataset if None.

    Returns
    -------
    Cutout
        uint64 ``data`` (z, y, x), 0 outside every segment; ``attrs`` hold the
        materialization and timestamp.

    Raises
    ------
    InvalidArgumentError, MaterializationError
        Bad box, size, mip, flag or materialization.
    TissueUnavailable
        The dataset has no segmentation, or it cannot be read (network lost).
    """
    agglomerate = check_flag(agglomerate, "agglomerate")
    source, at = open_query(dataset, materialization)
    layer, lo, hi, mip = _prepare(source, "segmentation", center_nm, size_nm, bbox_nm, mip)
    sv = np.asarray(source.segmentation_cutout(np.stack([lo, hi]), mip), dtype=np.uint64)
    data = roots_in_block(source, sv, at) if agglomerate else sv
    return _cutout(source, layer, data, lo, hi, mip, {"agglomerate": agglomerate, **at.describe()})


def roots_in_block(source: DataSource, sv: np.ndarray, at: Materialization) -> np.ndarray:
    """``sv`` (uint64 supervoxels) with each supervoxel replaced by its root at ``at`` (0 stays 0)."""
    uniq, inverse = np.unique(sv, return_inverse=True)
    roots = np.asarray(source.roots_of_supervoxels(uniq, at), dtype=np.uint64)
    return roots[inverse].reshape(sv.shape)
