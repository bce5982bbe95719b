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

from napari_crant.tissue.primitives import CLEFT, NECK, NEURITE, SOMA_SPHERE, SPINE, Primitives

_FAR = np.float32(-1e9)


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
    """Depth of primitive ``i`` on the grid ``x[:, None, None], y[None, :, None], ...``,
    without and with its cutting plane."""
    a, b = p.a[i], p.b[i]
    ab = b - a
    L2 = float(ab @ ab)
    dx = (x - a[0]).astype(np.float32)[:, None, None]
    dy = (y - a[1]).astype(np.float32)[None, :, None]
    dz = (z - a[2]).astype(np.float32)[None, None, :]
    if p.kind[i] == CLEFT:  # a disc: radius ra, half thickness offset, axis normal
        nf = p.normal[i].astype(np.float32)
        h = dx * nf[0] + dy * nf[1] + dz * nf[2]
        rho = np.sqrt(np.maximum(dx * dx + dy * dy + dz * dz - h * h, 0))
        d = np.minimum(np.float32(p.ra[i]) - rho, np.float32(p.offset[i]) - np.abs(h))
        return d, d
    if L2 > 1e-9:
        abf = (ab / L2).astype(np.float32)
        t = np.clip(dx * abf[0] + dy * abf[1] + dz * abf[2], 0.0, 1.0)
        ex = dx - t * np.float32(ab[0])
        ey = dy - t * np.float32(ab[1])
        ez = dz - t * np.float32(ab[2])
        r = np.float32(p.ra[i]) + t * np.float32(p.rb[i] - p.ra[i])
    else:
        ex, ey, ez = dx, dy, dz
        r = np.float32(p.ra[i])
    d = r - np.sqrt(ex * ex + ey * ey + ez * ez)
    nrm = p.normal[i]
    if nrm.any():
        nf = nrm.astype(np.float32)
        cut = dx * nf[0] + dy * nf[1] + dz * nf[2] + np.float32(a @ nrm - p.offset[i])
        return d, np.minimum(d, cut)
    return d, d


def _window(axis: np.ndarray, lo: float, hi: float) -> slice:
    return slice(int(np.searchsorted(axis, lo, "left")), int(np.searchsorted(axis, hi, "right")))


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
    """
    shape = (len(xs), len(ys), len(zs))
    depth = np.full(shape, _FAR, np.float32)
    other = np.full(shape, _FAR, np.float32)
    cell = np.full(shape, -1, np.int64)
    sv = np.zeros(shape, np.uint64)
    prim = np.full(shape, -1, np.int64)
    hull = np.full(shape, _FAR, np.float32)  # synapse shapes without their cut: the cleft too
    spine = np.full(shape, _FAR, np.float32)
    lo, hi = prims.lo - margin, prims.hi + margin
    is_cleft = prims.kind == CLEFT
    is_blob = (prims.kind != NEURITE) & (prims.kind != SOMA_SPHERE) & ~is_cleft
    is_spine = (prims.kind == SPINE) | (prims.kind == NECK)
    cleft = np.full(shape, _FAR, np.float32)
    # clefts first (nothing enters them), postsynaptic shapes (they carve presynaptic
    # ones), presynaptic shapes, neurites
    order = np.concatenate([np.flatnonzero(is_cleft), np.flatnonzero(is_spine),
                            np.flatnonzero(is_blob & ~is_spine), np.flatnonzero(~is_blob & ~is_cleft)])
    for i in order:
        sl = (_window(xs, lo[i, 0], hi[i, 0]), _window(ys, lo[i, 1], hi[i, 1]),
              _window(zs, lo[i, 2], hi[i, 2]))
        if any(s.stop <= s.start for s in sl):
            continue
        full, d = _depth(prims, i, xs[sl[0]], ys[sl[1]], zs[sl[2]])
        if is_cleft[i]:
            np.maximum(cleft[sl], d, out=cleft[sl])
            continue
        d = np.minimum(d, -cleft[sl])
        if is_spine[i]:
            np.maximum(spine[sl], d, out=spine[sl])
            np.maximum(hull[sl], full, out=hull[sl])
        elif is_blob[i]:
            d = np.minimum(d, -spine[sl])
            np.maximum(hull[sl], full, out=hull[sl])
        else:
            d = np.minimum(d, -hull[sl])
        c = prims.cell[i]
        d1, c1 = depth[sl], cell[sl]
        same = c1 == c
        better = d > d1
        take = better
        # another cell's best drops to "other"
        demote = better & ~same
        o = other[sl]
        o[demote] = d1[demote]
        # not better, another cell: maybe the best of the others
        np.maximum(o, np.where(~better & ~same, d, _FAR), out=o)
        d1[take] = d[take]
        c1[take] = c
        sv[sl][take] = prims.sv[i]
        prim[sl][take] = i
    return LabelField(depth=depth, other=other, cell=cell, sv=sv, prim=prim, prims=prims)
