"""Noise keyed by absolute coordinates: the same voxel gets the same value in every cutout.

No random generator state is involved: every value is a hash (splitmix64) of the seed, a
salt naming the feature, and integer lattice coordinates, so chunks stitch seamlessly.
"""

from __future__ import annotations

import sys

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_LITTLE = sys.byteorder == "little"
_P = (np.uint64(0x8DA6B343), np.uint64(0xD8163841), np.uint64(0xCB1AB31F))


def splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64."""
    with np.errstate(over="ignore"):
        z = x + _GOLD
        if np.ndim(z) == 0:
            z = (z ^ (z >> np.uint64(30))) * _M1
            z = (z ^ (z >> np.uint64(27))) * _M2
            return z ^ (z >> np.uint64(31))
        # the same operations in place (arrays: no temporaries but one)
        t = z >> np.uint64(30)
        z ^= t
        z *= _M1
        np.right_shift(z, np.uint64(27), out=t)
        z ^= t
        z *= _M2
        np.right_shift(z, np.uint64(31), out=t)
        z ^= t
        return z


def hash3(seed: int, salt: int, ix, iy, iz) -> np.ndarray:
    """uint64 hash of integer lattice coordinates (broadcast), the seed and a salt."""
    base = splitmix(np.uint64((int(seed) * 1_000_003 + int(salt)) & 0xFFFFFFFFFFFFFFFF))
    with np.errstate(over="ignore"):
        h = (np.asarray(ix).astype(np.int64).astype(np.uint64) * _P[0]
             ^ np.asarray(iy).astype(np.int64).astype(np.uint64) * _P[1]
             ^ np.asarray(iz).astype(np.int64).astype(np.uint64) * _P[2])
        return splitmix(h ^ base)


def uniform3(seed: int, salt: int, ix, iy, iz) -> np.ndarray:
    """Uniform float32 in [0, 1) from a lattice point."""
    return ((hash3(seed, salt, ix, iy, iz) >> np.uint64(40)).astype(np.float32)
            * np.float32(1.0 / (1 << 24)))


def normal3(seed: int, salt: int, ix, iy, iz) -> np.ndarray:
    """Approximately standard normal float32 (sum of four uniforms, rescaled)."""
    h = hash3(seed, salt, ix, iy, iz)
    if _LITTLE and h.ndim and h.flags.c_contiguous:  # the four 16-bit words, read in place
        words = h.view(np.uint16).reshape((*h.shape, 4))
        acc = words[..., 0].astype(np.float32)  # 0 + the first word: that word
        for k in range(1, 4):
            acc += words[..., k]
    else:
        acc = np.zeros(h.shape, dtype=np.float32)
        for k in range(4):
            acc += ((h >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.float32)
    return (acc * np.float32(1.0 / 65536.0) - np.float32(2.0)) * np.float32(np.sqrt(3.0))


def uniforms4(seed: int, salt: int, ix, iy, iz) -> list[np.ndarray]:
    """Four independent uniforms in [0, 1) (16 bits each) from one hash of a lattice point."""
    h = hash3(seed, salt, ix, iy, iz)
    return [((h >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.float32)
            * np.float32(1.0 / 65536.0) for k in range(4)]


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * (3 - 2 * t)


def _grid_noise(seed: int, salt: int, x: np.ndarray, y: np.ndarray, iz: np.ndarray,
                scale_nm: float) -> np.ndarray:
    """:func:`value_noise2d` on a separable grid: hash the few lattice points once."""
    fx, fy = x / scale_nm, y / scale_nm
    x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    tx = _fade((fx - x0).astype(np.float32))[:, None, None]
    ty = _fade((fy - y0).astype(np.float32))[None, :, None]
    gx = np.arange(x0.min(), x0.max() + 2)
    gy = np.arange(y0.min(), y0.max() + 2)
    lat = uniform3(seed, salt, gx[:, None, None], gy[None, :, None], iz[None, None, :])
    ix, iy = x0 - gx[0], y0 - gy[0]
    # along x first, on every lattice row (few), then along y: the same operations on the same
    # values as interpolating each sample from its four corners, with far fewer gathers
    lo_x = lat[ix]
    rows = lo_x + (lat[ix + 1] - lo_x) * tx  # (nx, lattice rows, nz)
    a = rows[:, iy]
    b = rows[:, iy + 1]
    return (a + (b - a) * ty) * np.float32(2.0) - np.float32(1.0)


def value_noise2d(seed: int, salt: int, x_nm: np.ndarray, y_nm: np.ndarray, iz: np.ndarray,
                  scale_nm: float) -> np.ndarray:
    """Smooth in-plane noise in [-1, 1]: bilinear interpolation of lattice hashes.

    ``x_nm``, ``y_nm`` and the section index ``iz`` broadcast together; every section has
    its own lattice. Given as a grid (shapes ``(nx, 1, 1)``, ``(1, ny, 1)``, ``(1, 1, nz)``)
    the lattice is hashed once per lattice point; the values are the same either way.
    """
    x_nm, y_nm, iz = np.asarray(x_nm), np.asarray(y_nm), np.asarray(iz)
    if (x_nm.ndim == y_nm.ndim == iz.ndim == 3 and x_nm.shape[1:] == (1, 1)
            and y_nm.shape[0] == 1 and y_nm.shape[2] == 1 and iz.shape[:2] == (1, 1)):
        return _grid_noise(seed, salt, x_nm.ravel().astype(np.float64),
                           y_nm.ravel().astype(np.float64), iz.ravel(), scale_nm)
    fx = np.asarray(x_nm, dtype=np.float64) / scale_nm
    fy = np.asarray(y_nm, dtype=np.float64) / scale_nm
    x0, y0 = np.floor(fx), np.floor(fy)
    tx = (fx - x0).astype(np.float32)
    ty = (fy - y0).astype(np.float32)
    tx, ty = _fade(tx), _fade(ty)
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    v00 = uniform3(seed, salt, x0, y0, iz)
    v10 = uniform3(seed, salt, x0 + 1, y0, iz)
    v01 = uniform3(seed, salt, x0, y0 + 1, iz)
    v11 = uniform3(seed, salt, x0 + 1, y0 + 1, iz)
    a = v00 + (v10 - v00) * tx
    b = v01 + (v11 - v01) * tx
    return (a + (b - a) * ty) * np.float32(2.0) - np.float32(1.0)
