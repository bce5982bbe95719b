"""Synthetic EM: determinism, seams, mips, and that a synapse looks like one."""

from __future__ import annotations

import numpy as np
import pytest
import tissue_data  # tests/tissue/tissue_data.py

from napari_crant.tissue import render_em
from napari_crant.tissue.segmentation import volume_shape


@pytest.fixture(scope="module")
def tissue_snapshot():
    return tissue_data.snapshot()


@pytest.fixture(scope="module")
def geom():
    return tissue_data.geometry()


@pytest.fixture(scope="module")
def row(tissue_snapshot):
    """The synapse these tests look at, by a fixed order that does not depend on the synapse
    table's row order: the 20th by (presynaptic L2 chunk, id). Its EM is not clipped at 0."""
    import pyarrow.feather as feather

    table = feather.read_table(tissue_snapshot / "synapses.arrow", columns=["id", "pre_pt_l2_id"])
    ids, pre_l2 = table["id"].to_numpy(), table["pre_pt_l2_id"].to_numpy()
    return int(np.lexsort((ids, pre_l2))[19])


def _box(geom, p_nm, half):
    v = np.round(p_nm / geom.voxel_resolution).astype(np.int64)
    half = np.array(half)
    return np.maximum(v - half, 0), np.minimum(v + half + 1, volume_shape(geom, 0))


def test_deterministic_and_seamless(geom, row):
    lo, hi = _box(geom, geom.syn_pre[row], (40, 40, 2))
    whole = render_em(geom, (lo, hi), 0)
    assert whole.dtype == np.uint8 and whole.shape == tuple(hi - lo)
    assert np.array_equal(whole, render_em(geom, (lo, hi), 0))
    for ax in range(3):
        mid = lo.copy()
        mid[ax] = (lo[ax] + hi[ax]) // 2
        hi_a = hi.copy()
        hi_a[ax] = mid[ax]
        joined = np.concatenate([render_em(geom, (lo, hi_a), 0),
                                 render_em(geom, (mid, hi), 0)], axis=ax)
        assert np.array_equal(joined, whole), ax


def test_other_seed_other_texture(geom, row):
    lo, hi = _box(geom, geom.syn_pre[row], (24, 24, 1))
    a = render_em(geom, (lo, hi), 0, seed=0)
    b = render_em(geom, (lo, hi), 0, seed=1)
    assert not np.array_equal(a, b)


def test_looks_like_em(geom, row):
    """Grey cytoplasm, dark membranes and synapse densities, noise: a plausible histogram."""
    lo, hi = _box(geom, geom.syn_pre[row], (96, 96, 1))
    em = render_em(geom, (lo, hi), 0).astype(np.float64)
    assert 140 < np.median(em) < 210
    assert np.percentile(em, 2) < 120  # membranes, T-bars, vesicles
    assert em.max() < 255 and em.min() > 0  # not clipped flat
    # noise: neighbouring voxels differ, but far less than across a membrane
    d = np.abs(np.diff(em[:, :, 1], axis=0))
    assert 2 < np.median(d) < 25
    # section-to-section variation: the sections are not copies
    assert not np.array_equal(em[:, :, 0], em[:, :, 1])


def test_synapse_is_darker_than_its_surroundings(geom):
    """T-bar, cleft and densities make the synapse centre darker than the tissue around."""
    darker = 0
    rows = np.linspace(0, len(geom.syn_pre) - 1, 12).astype(np.int64)
    for row in rows:
        lo, hi = _box(geom, geom.syn_ctr[row], (40, 40, 0))
        em = render_em(geom, (lo, hi), 0)[:, :, 0].astype(np.float64)
        c = np.array(em.shape) // 2
        centre = em[c[0] - 4:c[0] + 5, c[1] - 4:c[1] + 5].mean()
        darker += centre < np.median(em) - 5
    assert darker >= 0.75 * len(rows)


def test_mips(geom):
    lo, hi = _box(geom, geom.syn_ctr[30], (64, 64, 1))
    lo = lo - lo % 4
    hi = lo + np.array([128, 128, hi[2] - lo[2]])
    full = render_em(geom, (lo, hi), 0).astype(np.float64)
    for mip in (1, 2):
        f = 1 << mip
        em = render_em(geom, (lo // [f, f, 1], hi // [f, f, 1]), mip).astype(np.float64)
        assert em.shape == (128 // f, 128 // f, hi[2] - lo[2])
        pooled = full.reshape(128 // f, f, 128 // f, f, -1).mean(axis=(1, 3))
        assert abs(em.mean() - pooled.mean()) < 8
        assert np.corrcoef(em.ravel(), pooled.ravel())[0, 1] > 0.6
        # noise falls as averaging would
        assert np.median(np.abs(np.diff(em[:, :, 0], axis=0))) <= np.median(
            np.abs(np.diff(full[:, :, 0], axis=0))) + 1
