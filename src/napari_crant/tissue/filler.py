"""The rest of the neuropil: cells that are not in the tables, packed around the modelled ones.

Real neuropil has no empty space; the demo's skeletons fill only part of it. The space
between modelled cells is tiled by a Worley (cellular) pattern of profiles elongated in z,
like neurites running through the sections. They appear in the EM only (their supervoxel
is 0, unsegmented). Seeds are hashed from absolute lattice coordinates, so the pattern is
the same in every cutout.
"""

from __future__ import annotations

import numpy as np

from napari_crant.tissue.noise import uniform3

#: Spacing of the filler profiles (nm) in x and y.
CELL_NM = 240.0


def _columns(seed: int, cx: np.ndarray, cy: np.ndarray, zs: np.ndarray):
    """Centre (x, y) of every filler column at every z, its (additive) weight and key.

    Columns run through the sections, wandering gently (a sinusoid per column), so their
    profiles change smoothly from section to section.
    """
    h = [uniform3(seed, 40 + k, cx, cy, 0).astype(np.float64) for k in range(7)]
    phase = 2 * np.pi * h[4][..., None]
    wave = 1500.0 + 2500.0 * h[5][..., None]
    amp = 0.14 * CELL_NM
    z = zs[None, :]
    x = (cx + 0.2 + 0.6 * h[0])[..., None] * CELL_NM + amp * np.sin(z / wave + phase)
    y = (cy + 0.2 + 0.6 * h[1])[..., None] * CELL_NM + amp * np.cos(z / wave * 1.3 + phase)
    weight = CELL_NM * 0.85 * h[2] ** 3  # additive weights: profiles of mixed sizes
    key = (cx.astype(np.int64) * 73856093) ^ (cy.astype(np.int64) * 19349663)
    return x, y, weight, key


def filler_field(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray,
                 seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distance (nm) to the nearest filler membrane (positive inside a profile), and the
    key of the nearest filler profile, for every sample of the grid.

    Returns
    -------
    tuple
        ``(bound, keys, column, column_keys)``: ``bound`` float32 and ``keys`` int64 of the
        grid's shape; ``column`` (int64, the grid's shape) indexes ``column_keys``, the keys of
        the few columns that reach the grid (``keys == column_keys[column]``), so that what is
        keyed by a profile can be computed once per column and gathered.
    """
    cx_of = np.floor(xs / CELL_NM).astype(np.int64)
    cy_of = np.floor(ys / CELL_NM).astype(np.int64)
    # every column that can matter, once
    gx = np.arange(cx_of[0] - 1, cx_of[-1] + 2)
    gy = np.arange(cy_of[0] - 1, cy_of[-1] + 2)
    cx, cy = np.meshgrid(gx, gy, indexing="ij")
    sx, sy, w, key = _columns(seed, cx, cy, zs)
    sx, sy, w = sx.astype(np.float32), sy.astype(np.float32), w.astype(np.float32)
    first_x = cx_of - gx[0] - 1  # first of the three neighbouring columns of each sample
    first_y = cy_of - gy[0] - 1
    X = xs.astype(np.float32)[:, None, None]
    Y = ys.astype(np.float32)[None, :, None]

    def along_x(a: np.ndarray, da: int) -> np.ndarray:  # a[column of each sample's x]: (nx, gy, ...)
        return np.take(a, first_x + da, axis=0)

    def along_y(a: np.ndarray, db: int) -> np.ndarray:  # then of each sample's y: (nx, ny, ...)
        return np.take(a, first_y + db, axis=1)

    # the nearest (f1, its neighbour k1) and second nearest (f2) of the 3 x 3 columns around each
    # sample, taken in the same order as a partition and argmin over the nine would; the x term
    # is squared on the few columns before it is gathered per sample (the same values)
    # (in place on a few buffers: the same operations on the same values)
    f1 = f2 = k1 = dy2 = nearer = None
    for da in range(3):
        dx2 = X - along_x(sx, da)
        np.square(dx2, out=dx2)
        sy_x, w_x = along_x(sy, da), along_x(w, da)  # w: one weight per column, all z
        for db in range(3):
            k = 3 * da + db
            d = along_y(dx2, db)
            dy2 = np.subtract(Y, along_y(sy_x, db), out=dy2)
            np.square(dy2, out=dy2)
            d += dy2
            np.sqrt(d, out=d)
            d -= along_y(w_x, db)[:, :, None]
            if f1 is None:
                f1, f2, k1 = d, np.full_like(d, np.inf), np.zeros(d.shape, np.int8)
                nearer = np.empty(d.shape, bool)
                continue
            np.less(d, f1, out=nearer)
            np.copyto(k1, np.int8(k), where=nearer)  # 0..8
            np.minimum(f2, np.maximum(f1, d, out=dy2), out=f2)
            np.minimum(f1, d, out=f1)
    # rounded: corners far from the centre become extracellular space
    bound = np.minimum(0.5 * (f2 - f1), np.float32(0.52 * CELL_NM) - f1)
    column = (first_x[:, None, None] + k1 // 3) * key.shape[1] + (first_y[None, :, None] + k1 % 3)
    column_keys = key.ravel()
    return bound, column_keys[column], column, column_keys
