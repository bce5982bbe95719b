"""The label field: which cell and supervoxel every sample point lies in, and how deep.

Sample points form a separable grid (``xs``, ``ys``, ``zs`` in nm). Every primitive is
evaluated only over the part of the grid inside its bounding box (grown by a margin, so
depths down to ``-margin`` are known outside cells). Synapse blobs (boutons, spines and
their stalks) are drawn first and carve themselves out of every neurite, so the tissue
around a synapse belongs to its partners; spines are drawn before boutons and carve them
(a bouton of one synapse never swallows the spine of another). Neurites are carved by the
synapse shapes *without* their cleft planes, so the cleft stays extracellular.

For every point the field keeps the deepest primitive (``depth``, ``cell``, ``sv``,
``prim``) and the depth of the deepest primitive of any *other* cell (``other``); the
distance to the nearest membrane is about ``min(depth, (depth - other) / 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_crant.tissue.interrupt import checkpoint
from napari_crant.tissue.primitives import CLEFT, NECK, NEURITE, SOMA_SPHERE, SPINE, Primitives

_FAR = np.float32(-1e9)
#: Subtracted from a same-cell candidate for "other": below any _FAR it could be compared with.
_SAME_CELL = np.float32(4e9)


@dataclass
class LabelField:
    """Per-point results of :func:`label_field` (arrays of the grid's shape)."""

    depth: np.ndarray  # float32 nm, deepest primitive (very negative: none near)
    other: np.ndarray  # float32 nm, deepest primitive of another cell
    cell: np.ndarray  # int64, -1 outside every cell
    sv: np.ndarray  # uint64, 0 outside every cell
    prim: np.ndarray  # int64 row in ``prims``, -1 outside
    prims: Primitives

    @property
    def boundary(self) -> np.ndarray:
        """Signed distance (nm) to the nearest membrane: positive inside a cell."""
        d = self.depth
        return np.where(d > 0, np.minimum(d, 0.5 * (d - self.other)), d)

    def crop(self, sl: tuple[slice, ...]) -> LabelField:
        """The field of a sub-grid (views): equal to evaluating the sub-grid alone, since
        every point's value depends on the point only."""
        return LabelField(depth=self.depth[sl], other=self.other[sl], cell=self.cell[sl],
                          sv=self.sv[sl], prim=self.prim[sl], prims=self.prims)


def _depth(p: Primitives, i: int, x: np.ndarray, y: np.ndarray,
           z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth of primitive ``i`` on the grid ``z[:, None, None], y[None, :, None],
    x[None, None, :]`` (z, y, x order: x varies fastest), without and with its cutting plane.

    The float32 operations are those of the plain expressions (same order, so the same
    bits), done in place on few buffers."""
    a, b = p.a[i], p.b[i]
    ab = b - a
    L2 = float(ab @ ab)
    dx = (x - a[0]).astype(np.float32)[None, None, :]
    dy = (y - a[1]).astype(np.float32)[None, :, None]
    dz = (z - a[2]).astype(np.float32)[:, None, None]
    if p.kind[i] == CLEFT:  # a disc: radius ra, half thickness offset, axis normal
        nf = p.normal[i].astype(np.float32)
        h = dx * nf[0] + dy * nf[1] + dz * nf[2]
        rho = np.sqrt(np.maximum(dx * dx + dy * dy + dz * dz - h * h, 0))
        d = np.minimum(np.float32(p.ra[i]) - rho, np.float32(p.offset[i]) - np.abs(h))
        return d, d
    if L2 > 1e-9:
        abf = (ab / L2).astype(np.float32)
        t = dx * abf[0] + dy * abf[1] + dz * abf[2]
        np.maximum(t, np.float32(0.0), out=t)  # clip to [0, 1]
        np.minimum(t, np.float32(1.0), out=t)
        ab32 = ab.astype(np.float32)
        ex = t * ab32[0]
        np.subtract(dx, ex, out=ex)
        ey = t * ab32[1]
        np.subtract(dy, ey, out=ey)
        ez = t * ab32[2]
        np.subtract(dz, ez, out=ez)
        r = t  # ra + t (rb - ra), in t's buffer
        np.multiply(t, np.float32(p.rb[i] - p.ra[i]), out=r)
        np.add(np.float32(p.ra[i]), r, out=r)
        np.multiply(ex, ex, out=ex)
        np.multiply(ey, ey, out=ey)
        np.add(ex, ey, out=ex)
        np.multiply(ez, ez, out=ez)
        np.add(ex, ez, out=ex)
        np.sqrt(ex, out=ex)
        d = np.subtract(r, ex, out=r)
    else:
        d = dx * dx + dy * dy + dz * dz
        np.sqrt(d, out=d)
        np.subtract(np.float32(p.ra[i]), d, out=d)
    nrm = p.normal[i]
    if nrm.any():
        nf = nrm.astype(np.float32)
        cut = dx * nf[0] + dy * nf[1] + dz * nf[2]
        np.add(cut, np.float32(a @ nrm - p.offset[i]), out=cut)
        return d, np.minimum(d, cut, out=cut)
    return d, d


def _windows(axis: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and end sample index of every interval ``[lo, hi]`` along a sorted axis."""
    return np.searchsorted(axis, lo, "left"), np.searchsorted(axis, hi, "right")


def _meets(start: np.ndarray, stop: np.ndarray, which: np.ndarray) -> np.ndarray:
    """For every window (rows of ``start``/``stop``, (P, 3) sample indices), whether it
    overlaps any of the windows ``which`` (a boolean mask over the rows)."""
    if not which.any():
        return np.zeros(len(start), bool)
    s, e = start[which], stop[which]
    return np.any(np.all((start[:, None, :] < e[None]) & (s[None] < stop[:, None, :]), axis=2),
                  axis=1)


def label_field(prims: Primitives, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
                margin: float) -> LabelField:
    """Evaluate ``prims`` on the grid (see the module docstring).

    Parameters
    ----------
    prims
        The primitives near the grid, synapse blobs and neurites in any order.
    xs, ys, zs
        Increasing sample coordinates along each axis (nm).
    margin
        Depths are computed down to ``-margin`` outside every primitive.

    Notes
    -----
    Every primitive updates the samples of its window (its box grown by ``margin``) in a
    fixed order; a sample's results are those of the plain per-primitive rules: the deepest
    primitive wins (the first one on a tie) and ``other`` is the deepest of any other cell.
    Carving by the clefts, spines and synapse hulls is skipped for a window that none of
    them reaches (there it would take the minimum with ``1e9``: no change), and the cell
    and supervoxel of every sample are looked up from its winning primitive at the end.

    The grid is held in (z, y, x) order while the primitives are drawn: a window's rows
    along x are contiguous (a QC cutout has a few sections and hundreds of samples along x:
    in (x, y, z) order every window was runs of five floats), and the results are returned
    in (x, y, z) order. Every sample's arithmetic is the same either way (same bits).
    """
    shape = (len(zs), len(ys), len(xs))
    depth = np.full(shape, _FAR, np.float32)
    other = np.full(shape, _FAR, np.float32)
    # the carving shapes, kept negated (only ever used as ``-shape``): ``-max(a, b) == min(-a, -b)``
    no_hull = np.full(shape, -_FAR, np.float32)  # synapse shapes without their cut: the cleft too
    no_spine = np.full(shape, -_FAR, np.float32)
    no_cleft = np.full(shape, -_FAR, np.float32)
    lo, hi = prims.lo - margin, prims.hi + margin
    # windows in (z, y, x) order, like the grid
    start, stop = np.empty((len(prims), 3), np.int64), np.empty((len(prims), 3), np.int64)
    for k, axis in enumerate((xs, ys, zs)):
        start[:, 2 - k], stop[:, 2 - k] = _windows(axis, lo[:, k], hi[:, k])
    is_cleft = prims.kind == CLEFT
    is_blob = (prims.kind != NEURITE) & (prims.kind != SOMA_SPHERE) & ~is_cleft
    is_spine = (prims.kind == SPINE) | (prims.kind == NECK)
    empty = np.any(stop <= start, axis=1)
    near_cleft = _meets(start, stop, is_cleft & ~empty)
    near_spine = _meets(start, stop, is_spine & ~empty)
    near_hull = _meets(start, stop, is_blob & ~empty)
    # cells as small codes (a sample compares its cell with a primitive's)
    _, cell_code = np.unique(prims.cell, return_inverse=True)
    small = np.int16 if len(prims) < 2 ** 15 - 1 else np.int64  # rows and cell codes
    code = np.full(shape, -1, small)
    prim = np.full(shape, -1, small)
    # clefts first (nothing enters them), postsynaptic shapes (they carve presynaptic
    # ones), presynaptic shapes, neurites
    order = np.concatenate([np.flatnonzero(is_cleft), np.flatnonzero(is_spine),
                            np.flatnonzero(is_blob & ~is_spine), np.flatnonzero(~is_blob & ~is_cleft)])
    for i in order[~empty[order]]:
        checkpoint()  # the render may be abandoned here
        sl = (slice(start[i, 0], stop[i, 0]), slice(start[i, 1], stop[i, 1]),
              slice(start[i, 2], stop[i, 2]))
        full, d = _depth(prims, i, xs[sl[2]], ys[sl[1]], zs[sl[0]])
        if is_cleft[i]:
            np.minimum(no_cleft[sl], np.negative(d, out=d), out=no_cleft[sl])
            continue
        if near_cleft[i]:
            d = np.minimum(d, no_cleft[sl], out=d if d is not full else None)
        if is_spine[i]:
            np.minimum(no_spine[sl], -d, out=no_spine[sl])
            np.minimum(no_hull[sl], -full, out=no_hull[sl])
        elif is_blob[i]:
            if near_spine[i]:
                d = np.minimum(d, no_spine[sl], out=d if d is not full else None)
            np.minimum(no_hull[sl], -full, out=no_hull[sl])
        elif near_hull[i]:
            d = np.minimum(d, no_hull[sl], out=d if d is not full else None)
        c = small(cell_code[i])
        d1, c1, o = depth[sl], code[sl], other[sl]
        # another cell: "other" becomes the deeper of itself and the shallower of (best, d)
        # (the best is demoted when d beats it; d itself when it does not); on the same cell
        # that value is pushed below _FAR (depths are > -1e9 and < 1e6), so "other" keeps its
        m = np.minimum(d, d1)
        np.subtract(m, _SAME_CELL, out=m, where=c1 == c)  # m - 0 elsewhere: m
        np.maximum(o, m, out=o)
        better = d > d1
        np.maximum(d1, d, out=d1)  # d where better, else d1 (equal values on a tie)
        np.copyto(c1, c, where=better)
        np.copyto(prim[sl], small(i), where=better)
    # back to (x, y, z) order, contiguous
    depth = np.ascontiguousarray(depth.transpose(2, 1, 0))
    other = np.ascontiguousarray(other.transpose(2, 1, 0))
    prim = prim.transpose(2, 1, 0).astype(np.int64, order="C")
    cell = np.append(prims.cell, -1)[prim]  # row -1 (no primitive): the appended -1
    sv = np.append(prims.sv.astype(np.uint64), np.uint64(0))[prim]
    return LabelField(depth=depth, other=other, cell=cell, sv=sv, prim=prim, prims=prims)
