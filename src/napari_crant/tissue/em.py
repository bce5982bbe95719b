"""Synthetic electron microscopy of the demo tissue (uint8, like CRANTb's aligned EM).

Intensity is composed from the label field (:mod:`napari_crant.tissue.fields`) and noise
keyed by absolute coordinates (:mod:`napari_crant.tissue.noise`), so every voxel has one
value whatever cutout it is rendered in. See ``docs/tissue.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from napari_crant.tissue.fields import LabelField
from napari_crant.tissue.filler import filler_field
from napari_crant.tissue.geometry import TissueGeometry
from napari_crant.tissue.interrupt import checkpoint
from napari_crant.tissue.noise import normal3, uniform3, value_noise2d
from napari_crant.tissue.organelles import (
    SIGMA0,
    draw_filler_mitochondria,
    draw_microtubules,
    draw_mitochondria,
    draw_soma,
    draw_synapses,
)
from napari_crant.tissue.primitives import NEURITE, STALK
from napari_crant.tissue.segmentation import (
    DEFAULT_SEED,
    check_bbox,
    field_for,
    labels_of_field,
    model_of,
    sample_axes,
)

#: Extra voxels rendered around a cutout (x, y) so the blur is seamless.
PAD = 3
CYTOPLASM, EXTRACELLULAR, MEMBRANE_DARK = 188.0, 150.0, 105.0
#: Gap of extracellular space between modelled cells and the filler neuropil (nm).
GAP_NM = 5.0
#: Below this, darkening saturates (overlapping T-bars, densities and vesicles).
KNEE = 60.0


def _membrane(dist: np.ndarray, sigma: float) -> np.ndarray:
    """Darkness of a membrane at signed distance ``dist`` (nm): 1 at mip 0, fainter and wider
    at coarser mips (its area is kept, as averaging would)."""
    q = dist / np.float32(sigma)
    return np.float32(SIGMA0 / sigma) * np.exp(-q * q)


def shade(geom: TissueGeometry, f: LabelField, xs: np.ndarray, ys: np.ndarray,
          zs: np.ndarray, mip: int, seed: int) -> np.ndarray:
    """Float32 intensity (0..255) of the samples of a label field, before blur and noise."""
    res = geom.voxel_resolution
    pix = float(res[0]) * (1 << mip)
    sigma = float(np.sqrt(SIGMA0 ** 2 + (pix ** 2 - float(res[0]) ** 2) / 12.0))
    X = xs.astype(np.float32)[:, None, None]
    Y = ys.astype(np.float32)[None, :, None]
    iz = np.round(zs / res[2]).astype(np.int64)[None, None, :]
    inside = f.depth >= 0
    shape = f.depth.shape

    # filler: the rest of the neuropil (cells not in the tables), beyond a thin gap
    fb, _, fcol, fcol_keys = filler_field(xs, ys, zs, seed)

    def per_filler(salt: int, at: tuple | None = None) -> np.ndarray:
        """A hash of each sample's (or the samples ``at``'s) filler profile, once per profile."""
        return uniform3(seed, salt, fcol_keys, 0, 0)[fcol if at is None else fcol[at]]

    fill_b = np.where(inside, np.float32(-1e9), np.minimum(fb, -f.depth - np.float32(GAP_NM)))
    in_fill = fill_b >= 0
    img = np.full(shape, EXTRACELLULAR, np.float32)
    tone = (per_filler(7) - np.float32(0.5)) * np.float32(22.0)
    glia = per_filler(8) < np.float32(0.08)
    img = np.where(in_fill, CYTOPLASM + tone - np.where(glia, np.float32(28.0), 0), img)
    # each cell's tone, hashed once per primitive (a sample's cell is its primitive's; none: 0)
    prim_cell = np.append(np.maximum(f.prims.cell, 0), 0)
    cell_tone = (uniform3(seed, 9, prim_cell, 0, 0)[f.prim] - np.float32(0.5)) * 14.0
    img = np.where(inside, CYTOPLASM + cell_tone, img)

    # fine cytoplasm texture
    tex = value_noise2d(seed, 11, X, Y, iz, 28.0) * np.float32(7.0)
    tex += value_noise2d(seed, 12, X, Y, iz, 90.0) * np.float32(5.0)
    img += np.where(inside | in_fill, tex, tex * np.float32(0.5))

    # microtubules and mitochondria of neurites; somata and nuclei; synapses
    kind = np.append(f.prims.kind, np.int8(-1))[f.prim]  # prim -1: the appended -1
    neurite = inside & ((kind == NEURITE) | (kind == STALK))
    draw_microtubules(img, f, neurite, X, Y, zs, seed, sigma)
    draw_mitochondria(img, f, neurite, X, Y, zs, iz, seed, sigma)
    draw_soma(img, f, geom, X, Y, zs, iz, seed, sigma)
    checkpoint()
    draw_filler_mitochondria(img, fill_b, per_filler, X, Y, iz, seed, sigma)
    fill_mt = in_fill & (value_noise2d(seed, 13, X, Y, iz, 35.0) > np.float32(0.72))
    img -= np.where(fill_mt, np.float32(30.0), 0)

    # membranes: every boundary of a modelled cell, of the filler, between touching cells
    dark = _membrane(f.boundary, sigma)
    dark = np.maximum(dark, np.where(inside, 0, _membrane(fill_b, sigma)))
    img -= np.float32(MEMBRANE_DARK) * dark
    draw_synapses(img, f, geom, X, Y, zs, seed, sigma)
    checkpoint()
    # stacked densities saturate as stain does, instead of going black
    knee = np.float32(KNEE)
    return np.where(img < knee, knee - (knee - img) * np.float32(0.35), img)


def render_em(geom: TissueGeometry, bbox_vox, mip: int = 0, *,
              seed: int = DEFAULT_SEED) -> np.ndarray:
    """Synthetic EM of a cutout of the demo tissue.

    Parameters
    ----------
    geom
        The geometry (:meth:`TissueGeometry.from_snapshot`).
    bbox_vox
        ``((x0, y0, z0), (x1, y1, z1))``, half-open, in voxels of ``mip``.
    mip
        0 (8 x 8 x 42 nm) to ``MAX_MIP``; each level halves x and y. Mip ``m`` is drawn with
        the same functions at the centre of each ``2**m x 2**m`` footprint, with membranes
        widened to the pixel and noise reduced as averaging would.
    seed
        Seed of the texture; the same seed always gives the same image.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape ``(x1 - x0, y1 - y0, z1 - z0)``.

    Raises
    ------
    TissueError
        For a malformed box, a box outside the volume or a bad mip.
    """
    lo, hi = check_bbox(geom, bbox_vox, mip)
    return _em_and_field(geom, lo, hi, int(mip), seed)[0]


def render_em_and_segmentation(geom: TissueGeometry, bbox_vox, *,
                               seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The EM and the supervoxels of one box of mip 0, from one evaluation of the label field.

    At mip 0 both sample the same grid (the EM's only adds a margin for its blur), so this
    equals ``(render_em(geom, bbox_vox, 0), render_segmentation(geom, bbox_vox, 0))`` byte
    for byte, for about the cost of the EM alone.

    Parameters
    ----------
    geom
        The geometry.
    bbox_vox
        ``((x0, y0, z0), (x1, y1, z1))``, half-open, in mip-0 voxels.
    seed
        Seed of the texture.

    Returns
    -------
    tuple of numpy.ndarray
        uint8 EM and uint64 supervoxels, both of shape ``(x1 - x0, y1 - y0, z1 - z0)``.

    Raises
    ------
    TissueError
        For a malformed box or a box outside the volume.
    """
    lo, hi = check_bbox(geom, bbox_vox, 0)
    em, f = _em_and_field(geom, lo, hi, 0, seed)
    inner = f.crop((slice(PAD, -PAD), slice(PAD, -PAD), slice(None)))
    return em, labels_of_field(geom, inner, lo, hi, 0)


def _em_and_field(geom: TissueGeometry, lo: np.ndarray, hi: np.ndarray, mip: int,
                  seed: int) -> tuple[np.ndarray, LabelField]:
    """The EM of a checked box, and the label field of its grid grown by ``PAD`` in x and y."""
    model = model_of(geom, seed)
    pad = np.array([PAD, PAD, 0])
    xs, ys, zs = sample_axes(geom, lo - pad, hi + pad, mip, centred=True)
    f = field_for(model, xs, ys, zs)
    checkpoint()
    img = shade(geom, f, xs, ys, zs, mip, seed)
    checkpoint()

    ix = np.arange(lo[0] - PAD, hi[0] + PAD)[:, None, None]
    iy = np.arange(lo[1] - PAD, hi[1] + PAD)[None, :, None]
    iz = np.arange(lo[2], hi[2])[None, None, :]
    scale = np.float32(1.0 / (1 << mip))
    img += normal3(seed, 100 + mip, ix, iy, iz) * np.float32(8.0) * scale
    img = gaussian_filter1d(img, 0.75, axis=0, mode="nearest", truncate=3.0)
    img = gaussian_filter1d(img, 0.75, axis=1, mode="nearest", truncate=3.0)
    img = img[PAD:-PAD, PAD:-PAD, :]
    ix, iy = ix[PAD:-PAD], iy[:, PAD:-PAD]
    # shot noise, and section-to-section brightness and contrast
    img += normal3(seed, 200 + mip, ix, iy, iz) * np.float32(9.0) * scale
    gain = np.float32(1.0) + normal3(seed, 300, 0, 0, iz) * np.float32(0.04)
    offset = normal3(seed, 301, 0, 0, iz) * np.float32(6.0)
    img = (img - np.float32(128.0)) * gain + np.float32(128.0) + offset
    return np.clip(np.round(img), 0, 255).astype(np.uint8), f
