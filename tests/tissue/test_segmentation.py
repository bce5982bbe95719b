"""Segmentation of the synthetic tissue: consistency with the tables, seams, mips."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import tissue_data  # tests/tissue/tissue_data.py
from scipy.spatial import cKDTree

from napari_crant.tissue import render_segmentation
from napari_crant.tissue.segmentation import volume_shape


@pytest.fixture(scope="module")
def tissue_snapshot():
    return tissue_data.snapshot()


@pytest.fixture(scope="module")
def geom():
    return tissue_data.geometry()


def _voxel(geom, p_nm):
    return np.round(p_nm / geom.voxel_resolution).astype(np.int64)


def _box_around(geom, p_nm, half=(48, 48, 3)):
    v = _voxel(geom, p_nm)
    half = np.array(half)
    lo = np.maximum(v - half, 0)
    hi = np.minimum(v + half + 1, volume_shape(geom, 0))
    return lo, hi


def _cutout_rows(geom, n):
    """Synapse rows spread over the table (deterministic)."""
    return np.linspace(0, len(geom.syn_pre) - 1, n).astype(np.int64)


def test_every_synapse_point_holds_its_supervoxel(geom):
    """The consistency rule, for every synapse with a point inside several cutouts."""
    res = geom.voxel_resolution
    pre_v, post_v = _voxel(geom, geom.syn_pre), _voxel(geom, geom.syn_post)
    # points sharing a voxel with a point of another supervoxel: only one can win
    allv = np.concatenate([pre_v, post_v])
    allsv = np.concatenate([geom.syn_pre_sv, geom.syn_post_sv])
    key = [tuple(v) for v in allv]
    by_voxel: dict[tuple, set] = {}
    for k, s in zip(key, allsv, strict=True):
        by_voxel.setdefault(k, set()).add(int(s))
    checked = collisions = 0
    for row in _cutout_rows(geom, 8):
        lo, hi = _box_around(geom, geom.syn_ctr[row])
        seg = render_segmentation(geom, (lo, hi), 0)
        assert seg.dtype == np.uint64 and seg.shape == tuple(hi - lo)
        for vox, svs in ((pre_v, geom.syn_pre_sv), (post_v, geom.syn_post_sv)):
            inside = np.flatnonzero(np.all((vox >= lo) & (vox < hi), axis=1))
            for i in inside:
                if len(by_voxel[tuple(vox[i])]) > 1:
                    collisions += 1
                    continue
                got = seg[tuple(vox[i] - lo)]
                assert got == svs[i], (row, i, got, svs[i])
                checked += 1
    assert checked > 50
    assert collisions <= checked // 20
    assert res.tolist() == [8.0, 8.0, 42.0]


def test_node_positions_hold_a_supervoxel_of_their_l2(geom, tissue_snapshot):
    """Nodes away from other cells and synapses hold a supervoxel of their own L2 chunk."""
    sv_table = pa.ipc.open_file(str(tissue_snapshot / "supervoxels.arrow")).read_all()
    sv_l2 = dict(zip(sv_table["sv_id"].to_numpy(), sv_table["l2_id"].to_numpy(), strict=True))
    cell = geom.node_cell
    tree = cKDTree(geom.node_pos)
    syn_tree = cKDTree(np.concatenate([geom.syn_pre, geom.syn_post]))
    reach = 2 * geom.node_radius.max() + 700.0
    rng = np.random.default_rng(0)
    held = isolated = 0
    for i in rng.choice(len(geom.node_pos), 400, replace=False):
        near = tree.query_ball_point(geom.node_pos[i], reach)
        if np.any(cell[near] != cell[i]) or syn_tree.query_ball_point(geom.node_pos[i], 900.0):
            continue
        isolated += 1
        v = _voxel(geom, geom.node_pos[i])
        seg = render_segmentation(geom, (v, v + 1), 0)
        got = seg[0, 0, 0]
        assert got != 0 and sv_l2[got] == geom.node_l2[i], (i, got)
        held += 1
    assert isolated >= 20 and held == isolated


def test_deterministic_and_seamless(geom):
    lo, hi = _box_around(geom, geom.syn_pre[5], (40, 36, 4))
    whole = render_segmentation(geom, (lo, hi), 0)
    assert np.array_equal(whole, render_segmentation(geom, (lo, hi), 0))
    for ax in range(3):
        mid = lo.copy()
        mid[ax] = (lo[ax] + hi[ax]) // 2
        hi_a = hi.copy()
        hi_a[ax] = mid[ax]
        a = render_segmentation(geom, (lo, hi_a), 0)
        b = render_segmentation(geom, (mid, hi), 0)
        assert np.array_equal(np.concatenate([a, b], axis=ax), whole)


def test_mips_are_strided_mip0(geom):
    lo, hi = _box_around(geom, geom.syn_ctr[11], (64, 64, 2))
    lo = lo - lo % 4
    full = render_segmentation(geom, (lo, hi), 0)
    for mip in (1, 2):
        f = 1 << mip
        lo_m = lo // [f, f, 1]
        hi_m = -(-hi // np.array([f, f, 1]))
        seg = render_segmentation(geom, (lo_m, hi_m), mip)
        assert seg.shape == tuple(hi_m - lo_m)
        strided = full[::f, ::f, :]
        assert np.array_equal(seg[:strided.shape[0], :strided.shape[1]], strided)
    assert volume_shape(geom, 3).tolist() == [-(-geom.volume_voxels[0] // 8),
                                              -(-geom.volume_voxels[1] // 8),
                                              geom.volume_voxels[2]]


def test_segments_are_uint64_ids_of_the_tables(geom, tissue_snapshot):
    sv = set(pa.ipc.open_file(str(tissue_snapshot / "supervoxels.arrow")).read_all()["sv_id"]
             .to_numpy().tolist())
    lo, hi = _box_around(geom, geom.syn_ctr[0], (64, 64, 3))
    ids = np.unique(render_segmentation(geom, (lo, hi), 0))
    assert len(ids) > 2 and ids[0] == 0
    assert all(int(i) in sv for i in ids[1:])
    assert ids.max() > 2**53  # realistic 18-digit IDs survive


@pytest.mark.parametrize("seed", [0, 7])
def test_seed_is_part_of_the_tissue(geom, seed):
    lo, hi = _box_around(geom, geom.syn_pre[3], (32, 32, 2))
    a = render_segmentation(geom, (lo, hi), 0, seed=seed)
    assert np.array_equal(a, render_segmentation(geom, (lo, hi), 0, seed=seed))


def test_every_node_in_its_own_cell_holds_its_l2(geom, tissue_snapshot):
    """In cutouts, every node whose voxel lies in its own cell holds a supervoxel of its own
    L2 chunk (unless a synapse point shares the voxel); the others lie inside another cell's
    profile (counted: few)."""
    sv_table = pa.ipc.open_file(str(tissue_snapshot / "supervoxels.arrow")).read_all()
    sv_l2 = dict(zip(sv_table["sv_id"].to_numpy(), sv_table["l2_id"].to_numpy(), strict=True))
    l2_cell = dict(zip(geom.node_l2, geom.node_cell, strict=True))
    syn_vox = {tuple(v) for v in np.concatenate([_voxel(geom, geom.syn_pre),
                                                _voxel(geom, geom.syn_post)])}
    node_vox = _voxel(geom, geom.node_pos)
    own = foreign = 0
    for node in np.linspace(0, len(geom.node_pos) - 1, 30).astype(np.int64):
        lo, hi = _box_around(geom, geom.node_pos[node], (64, 64, 4))
        seg = render_segmentation(geom, (lo, hi), 0)
        for i in np.flatnonzero(np.all((node_vox >= lo) & (node_vox < hi), axis=1)):
            got = seg[tuple(node_vox[i] - lo)]
            if tuple(node_vox[i]) in syn_vox:
                continue
            if got == 0 or l2_cell.get(sv_l2[got], -1) != geom.node_cell[i]:
                foreign += 1
                continue
            assert sv_l2[got] == geom.node_l2[i], (i, got)
            own += 1
    assert own >= 30
    assert foreign <= own // 4, (own, foreign)


def test_label_field_of_a_grid_is_that_of_each_of_its_points(geom):
    """The label field is drawn in (z, y, x) order and returned in (x, y, z): on a grid with a
    different number of samples along each axis, every section and every row of samples gives
    the same values alone as inside the whole grid, in (x, y, z) order, C-contiguous."""
    from napari_crant.tissue.fields import label_field
    from napari_crant.tissue.segmentation import MARGIN_NM, model_of

    model = model_of(geom)
    p = geom.syn_pre[int(_cutout_rows(geom, 5)[2])]
    xs = p[0] - 300.0 + 8.0 * np.arange(75)
    ys = p[1] - 200.0 + 8.0 * np.arange(52)
    zs = p[2] - 84.0 + 42.0 * np.arange(4)
    prims = model.near(np.array([xs[0], ys[0], zs[0]]), np.array([xs[-1], ys[-1], zs[-1]]))
    whole = label_field(prims, xs, ys, zs, MARGIN_NM)
    assert whole.depth.shape == (75, 52, 4) and whole.depth.flags.c_contiguous
    assert (whole.depth > 0).any() and (whole.cell >= 0).any()  # shapes in view
    parts = [(slice(None), slice(None), slice(k, k + 1)) for k in range(4)]
    parts += [(slice(i, i + 1), slice(None), slice(None)) for i in (0, 37, 74)]
    for sl in parts:
        alone = label_field(prims, xs[sl[0]], ys[sl[1]], zs[sl[2]], MARGIN_NM)
        for name in ("depth", "other", "cell", "sv", "prim"):
            np.testing.assert_array_equal(getattr(alone, name), getattr(whole, name)[sl], err_msg=name)
