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
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distance (nm) to the nearest filler membrane (positive inside a profile), and the
    key of the nearest filler profile, for every sample of the grid."""
    shape = (len(xs), len(ys), len(zs))
    bound = np.empty(shape, np.float32)
    keys = np.empty(shape, np.int64)
    cx_of = np.floor(xs / CELL_NM).astype(np.int64)
    cy_of = np.floor(ys / CELL_NM).astype(np.int64)
    # every column that can matter, once
    gx = np.arange(cx_of[0] - 1, cx_of[-1] + 2)
    gy = np.arange(cy_of[0] - 1, cy_of[-1] + 2)
    cx, cy = np.meshgrid(gx, gy, indexing="ij")
    sx, sy, w, key = _columns(seed, cx, cy, zs)
    sx, sy, w = sx.astype(np.float32), sy.astype(np.float32), w.astype(np.float32)
    bx = np.flatnonzero(np.diff(cx_of, prepend=cx_of[0] - 1))
    by = np.flatnonzero(np.diff(cy_of, prepend=cy_of[0] - 1))
    ex, ey = np.append(bx[1:], len(xs)), np.append(by[1:], len(ys))
    x32, y32 = xs.astype(np.float32), ys.astype(np.float32)
    for i0, i1 in zip(bx, ex, strict=True):
        a = cx_of[i0] - gx[0] - 1  # first of the three neighbouring columns in x
        for j0, j1 in zip(by, ey, strict=True):
            b = cy_of[j0] - gy[0] - 1
            nx_ = sx[a:a + 3, b:b + 3].reshape(9, -1).T  # (nz, 9)
            ny_ = sy[a:a + 3, b:b + 3].reshape(9, -1).T
            nw = w[a:a + 3, b:b + 3].reshape(9)
            X = x32[i0:i1, None, None, None]
            Y = y32[None, j0:j1, None, None]
            d = np.sqrt((X - nx_) ** 2 + (Y - ny_) ** 2) - nw
            part = np.partition(d, 1, axis=-1)
            f1, f2 = part[..., 0], part[..., 1]
            k1 = np.argmin(d, axis=-1)
            # rounded: corners far from the centre become extracellular space
            bound[i0:i1, j0:j1] = np.minimum(0.5 * (f2 - f1), np.float32(0.52 * CELL_NM) - f1)
            keys[i0:i1, j0:j1] = key[a:a + 3, b:b + 3].reshape(9)[k1]
    return bound, keys
