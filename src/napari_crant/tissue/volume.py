"""Chunked, cached access to the synthetic tissue, the way a precomputed server reads it.

Chunks are aligned to a grid of ``chunk_size`` voxels at every mip (the last chunk along an
axis is cut at the volume's edge, as in the precomputed format). Rendered chunks, and the
boxes :meth:`TissueVolume.cutout` draws whole, are kept in one least-recently-used cache
bounded in bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from napari_crant.tissue.em import render_em, render_em_and_segmentation
from napari_crant.tissue.geometry import TissueError, TissueGeometry
from napari_crant.tissue.segmentation import (
    DEFAULT_SEED,
    check_bbox,
    check_mip,
    render_segmentation,
    volume_shape,
)

LAYERS = {"em": render_em, "segmentation": render_segmentation}
#: A box is drawn from a cached drawn box that holds at least this fraction of it (the rest drawn)
REUSE_FRACTION = 0.4
DEFAULT_CHUNK = (128, 128, 16)


class TissueVolume:
    """The synthetic EM and segmentation of a geometry, served by aligned chunks.

    Parameters
    ----------
    geom
        The geometry.
    chunk_size
        Chunk size in voxels (x, y, z), the same at every mip.
    max_bytes
        Budget of the chunk cache; the least recently used chunks are dropped beyond it.
    seed
        Seed of the texture.
    """

    def __init__(self, geom: TissueGeometry, chunk_size=DEFAULT_CHUNK,
                 max_bytes: int = 256 * 1024 * 1024, seed: int = DEFAULT_SEED):
        if not isinstance(geom, TissueGeometry):
            raise TissueError(f"expected a TissueGeometry, got {type(geom).__name__}")
        size = np.asarray(chunk_size)
        if size.shape != (3,) or not np.all(size == np.round(size)) or np.any(size < 1):
            raise TissueError(f"chunk_size must be three positive integers, got {chunk_size!r}")
        if not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
            raise TissueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
        self.geom = geom
        self.chunk_size = size.astype(np.int64)
        self.max_bytes = int(max_bytes)
        self.seed = int(seed)
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def cached_bytes(self) -> int:
        """Bytes held by the cache now."""
        return self._bytes

    def clear(self) -> None:
        """Drop every cached chunk."""
        with self._lock:
            self._cache.clear()
            self._bytes = 0

    def grid_shape(self, mip: int) -> np.ndarray:
        """Number of chunks along x, y, z at ``mip``."""
        return -(-volume_shape(self.geom, mip) // self.chunk_size)

    def chunk_bbox(self, mip: int, index) -> tuple[np.ndarray, np.ndarray]:
        """Voxel box ``(lo, hi)`` of chunk ``index`` (x, y, z chunk numbers) at ``mip``."""
        mip = check_mip(mip)
        idx = np.asarray(index)
        grid = self.grid_shape(mip)
        if (idx.shape != (3,) or not np.issubdtype(idx.dtype, np.integer)
                or np.any(idx < 0) or np.any(idx >= grid)):
            raise TissueError(f"chunk index {index!r} is not in the chunk grid {grid.tolist()} "
                              f"at mip {mip}")
        lo = idx.astype(np.int64) * self.chunk_size
        hi = np.minimum(lo + self.chunk_size, volume_shape(self.geom, mip))
        return lo, hi

    def chunk(self, key: tuple) -> np.ndarray:
        """The rendered chunk ``key = (layer, mip, (cx, cy, cz))``; ``layer`` is "em" or
        "segmentation". The returned array is read-only (it is shared with the cache)."""
        try:
            layer, mip, index = key
        except (TypeError, ValueError):
            raise TissueError(f"chunk key must be (layer, mip, (cx, cy, cz)), got {key!r}"
                              ) from None
        if layer not in LAYERS:
            raise TissueError(f"unknown layer {layer!r}; expected one of {sorted(LAYERS)}")
        lo, hi = self.chunk_bbox(mip, index)
        k = (layer, int(mip), tuple(int(i) for i in index))
        with self._lock:
            hit = self._cache.get(k)
            if hit is not None:
                self._cache.move_to_end(k)
                return hit
        arr = LAYERS[layer](self.geom, (lo, hi), int(mip), seed=self.seed)
        self._keep(k, arr)
        return arr

    def cutout(self, layer: str, bbox_vox, mip: int = 0) -> np.ndarray:
        """Any box (a new array), identical to rendering it whole.

        Read from the cache when a cached box holds it or when every chunk it touches is
        cached; otherwise exactly the box is drawn (not the chunks around it, which hold
        up to seven times as many voxels for a QC review's cutout) and kept for the next
        request that lies inside it. Drawing the EM of a box at mip 0 also keeps its
        supervoxels (one evaluation of the label field for both).
        """
        if layer not in LAYERS:
            raise TissueError(f"unknown layer {layer!r}; expected one of {sorted(LAYERS)}")
        lo, hi = check_bbox(self.geom, bbox_vox, mip)
        mip = int(mip)
        held = self._cached_box(layer, mip, lo, hi)
        if held is not None:
            return held
        c0, c1 = lo // self.chunk_size, (hi - 1) // self.chunk_size
        chunks = [(cx, cy, cz) for cx in range(c0[0], c1[0] + 1) for cy in range(c0[1], c1[1] + 1)
                  for cz in range(c0[2], c1[2] + 1)]
        with self._lock:
            all_cached = all((layer, mip, c) in self._cache for c in chunks)
        if not all_cached:
            return self._draw_box(layer, mip, lo, hi)
        out = np.zeros(tuple(hi - lo), np.uint8 if layer == "em" else np.uint64)
        for c in chunks:
            arr = self.chunk((layer, mip, c))
            clo, chi = self.chunk_bbox(mip, c)
            a, b = np.maximum(lo, clo), np.minimum(hi, chi)
            out[tuple(slice(s, e) for s, e in zip(a - lo, b - lo, strict=True))] = arr[
                tuple(slice(s, e) for s, e in zip(a - clo, b - clo, strict=True))]
        return out

    def _draw_box(self, layer: str, mip: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Draw the box ``lo``-``hi`` and keep it: what a cached drawn box overlaps (at least
        :data:`REUSE_FRACTION` of it: a neighbouring synapse's cutout) is copied from it, only the
        rest is drawn (up to six sub-boxes); the EM of mip 0 brings its supervoxels along."""
        both = layer == "em" and mip == 0
        kinds = ["em", "segmentation"] if both else [layer]
        shape = tuple(hi - lo)
        parts = [(lo, hi)]
        outs: dict[str, np.ndarray] = {}
        near = self._overlapping_box(layer, mip, lo, hi)
        if near is not None:
            blo, bhi = near
            a, b = np.maximum(lo, blo), np.minimum(hi, bhi)
            for kind in list(kinds):
                with self._lock:
                    src = self._cache.get(("box", kind, mip, tuple(blo), tuple(bhi)))
                if src is None:  # the supervoxels of that box were dropped: drawn on their own later
                    kinds.remove(kind)
                    continue
                out = outs[kind] = np.empty(shape, src.dtype)
                out[_slices(a - lo, b - lo)] = src[_slices(a - blo, b - blo)]
            parts = _remainder(lo, hi, blo, bhi)
        for plo, phi in parts:
            if both:
                em, seg = render_em_and_segmentation(self.geom, (plo, phi), seed=self.seed)
                drawn = {"em": em, "segmentation": seg}
            else:
                drawn = {layer: LAYERS[layer](self.geom, (plo, phi), mip, seed=self.seed)}
            for kind in kinds:
                if kind not in outs:
                    outs[kind] = np.empty(shape, drawn[kind].dtype)
                outs[kind][_slices(plo - lo, phi - lo)] = drawn[kind]
        for kind in kinds:
            self._keep(("box", kind, mip, tuple(lo), tuple(hi)), outs[kind])
        return outs[layer].copy()

    def _overlapping_box(self, layer: str, mip: int, lo: np.ndarray,
                         hi: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The cached drawn box of ``layer`` and ``mip`` overlapping ``lo``-``hi`` most, if it
        holds at least :data:`REUSE_FRACTION` of it."""
        best, best_n = None, REUSE_FRACTION * float(np.prod(hi - lo))
        with self._lock:
            keys = [k for k in self._cache if k[0] == "box" and k[1] == layer and k[2] == mip]
        for key in keys:
            blo, bhi = np.asarray(key[3]), np.asarray(key[4])
            n = float(np.prod(np.clip(np.minimum(hi, bhi) - np.maximum(lo, blo), 0, None)))
            if n >= best_n:
                best, best_n = (blo, bhi), n
        return best

    def _cached_box(self, layer: str, mip: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
        """A copy of the box ``lo``-``hi`` cut from a cached drawn box holding it, or ``None``."""
        with self._lock:
            for key, arr in reversed(self._cache.items()):
                if (key[0] == "box" and key[1] == layer and key[2] == mip
                        and all(a <= b for a, b in zip(key[3], lo, strict=True))
                        and all(a >= b for a, b in zip(key[4], hi, strict=True))):
                    self._cache.move_to_end(key)
                    start = lo - np.asarray(key[3])
                    return arr[tuple(slice(s, s + n) for s, n in zip(start, hi - lo, strict=True))].copy()
        return None

    def _keep(self, key: tuple, arr: np.ndarray) -> None:
        """Cache ``arr`` (read-only) under ``key``, dropping the least recently used beyond the budget."""
        arr.setflags(write=False)
        with self._lock:
            if key not in self._cache and arr.nbytes <= self.max_bytes:
                self._cache[key] = arr
                self._bytes += arr.nbytes
                while self._bytes > self.max_bytes:
                    _, old = self._cache.popitem(last=False)
                    self._bytes -= old.nbytes


def _slices(start: np.ndarray, stop: np.ndarray) -> tuple[slice, ...]:
    return tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))


def _remainder(lo: np.ndarray, hi: np.ndarray, blo: np.ndarray,
               bhi: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The box ``lo``-``hi`` outside the box ``blo``-``bhi`` (they overlap), as at most six boxes:
    along each axis in turn, the slabs before and after the other box, then the rest is narrowed."""
    lo, hi = lo.copy(), hi.copy()
    parts = []
    for axis in range(3):
        if lo[axis] < blo[axis]:
            top = hi.copy()
            top[axis] = blo[axis]
            parts.append((lo.copy(), top))
            lo[axis] = blo[axis]
        if hi[axis] > bhi[axis]:
            bottom = lo.copy()
            bottom[axis] = bhi[axis]
            parts.append((bottom, hi.copy()))
            hi[axis] = bhi[axis]
    return parts
