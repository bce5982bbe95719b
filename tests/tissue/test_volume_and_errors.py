"""The chunk cache, reading the geometry, and clear errors for bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tissue_data  # tests/tissue/tissue_data.py

from napari_crant.tissue import (
    MAX_MIP,
    TissueError,
    TissueGeometry,
    TissueVolume,
    render_em,
    render_segmentation,
)
from napari_crant.tissue.geometry import SKELETON_NODES
from napari_crant.tissue.segmentation import volume_shape


@pytest.fixture(scope="module")
def tissue_snapshot():
    return tissue_data.snapshot()


@pytest.fixture(scope="module")
def geom():
    return tissue_data.geometry()


def test_geometry_from_snapshot(geom, tissue_snapshot):
    assert geom.node_pos.shape[1] == 3 and geom.node_sv.dtype == np.uint64
    assert geom.node_sv.min() > 2**53 and geom.syn_pre_sv.dtype == np.uint64
    # synapse positions in nm: whole voxels times the resolution
    assert np.all(geom.syn_pre % geom.voxel_resolution == 0)
    assert len(geom.nucleus_pos) > 0 and np.all(geom.nucleus_radius > 500)
    roots = np.flatnonzero(geom.node_parent < 0)
    assert np.array_equal(np.unique(geom.node_cell), roots)
    manifest = json.loads((tissue_snapshot / "manifest.json").read_text())
    assert geom.volume_nm.tolist() == manifest["info"]["volume_nm"]


def test_geometry_errors(tmp_path, tissue_snapshot):
    with pytest.raises(TissueError, match="not a snapshot"):
        TissueGeometry.from_snapshot(tmp_path)
    bare = tmp_path / "bare"
    shutil.copytree(tissue_snapshot, bare)
    (bare / SKELETON_NODES).unlink()
    with pytest.raises(TissueError, match=r"skeleton_nodes\.arrow"):
        TissueGeometry.from_snapshot(bare)


@pytest.mark.parametrize("render", [render_em, render_segmentation])
def test_bad_boxes_and_mips(geom, render):
    size = volume_shape(geom, 0)
    with pytest.raises(TissueError, match="outside the volume"):
        render(geom, ((-1, 0, 0), (10, 10, 1)), 0)
    with pytest.raises(TissueError, match="outside the volume"):
        render(geom, ((size[0] - 4, 0, 0), (size[0] + 4, 10, 1)), 0)
    with pytest.raises(TissueError, match="outside the volume"):
        render(geom, ((10**9, 0, 0), (10**9 + 4, 10, 1)), 0)
    with pytest.raises(TissueError, match="empty"):
        render(geom, ((10, 10, 10), (10, 20, 11)), 0)
    with pytest.raises(TissueError, match="whole voxels"):
        render(geom, ((0.5, 0, 0), (10, 10, 1)), 0)
    with pytest.raises(TissueError, match="bounding box"):
        render(geom, "somewhere", 0)
    with pytest.raises(TissueError, match="bounding box"):
        render(geom, ((0, 0), (1, 1)), 0)
    with pytest.raises(TissueError, match="mip"):
        render(geom, ((0, 0, 0), (1, 1, 1)), MAX_MIP + 1)
    with pytest.raises(TissueError, match="mip"):
        render(geom, ((0, 0, 0), (1, 1, 1)), 1.5)
    with pytest.raises(TissueError, match="larger than"):
        render(geom, ((0, 0, 0), (5000, 5000, 10)), 0)
    with pytest.raises(TissueError, match="TissueGeometry"):
        render("demo", ((0, 0, 0), (1, 1, 1)), 0)
    # the far corner of the volume is fine, at every mip
    for mip in (0, 3):
        s = volume_shape(geom, mip)
        out = render(geom, (s - [3, 3, 1], s), mip)
        assert out.shape == (3, 3, 1)


def test_chunks_match_renders_and_stitch(geom):
    vol = TissueVolume(geom, chunk_size=(32, 32, 4), max_bytes=10**8)
    v = np.round(geom.syn_pre[19] / geom.voxel_resolution).astype(np.int64)
    c = v // [32, 32, 4]
    lo, hi = vol.chunk_bbox(0, c)
    assert np.array_equal(vol.chunk(("em", 0, tuple(c))), render_em(geom, (lo, hi), 0))
    assert np.array_equal(vol.chunk(("segmentation", 0, tuple(c))),
                          render_segmentation(geom, (lo, hi), 0))
    # a box across chunk borders, assembled from chunks, equals the whole render
    half = np.array([20, 20, 3])
    box = (v - half, v + half)
    assert np.array_equal(vol.cutout("segmentation", box, 0), render_segmentation(geom, box, 0))
    assert np.array_equal(vol.cutout("em", box, 0), render_em(geom, box, 0))
    # the last chunk is cut at the volume's edge, as in precomputed
    grid = vol.grid_shape(2)
    lo, hi = vol.chunk_bbox(2, grid - 1)
    assert np.all(hi == volume_shape(geom, 2))


def test_cache_is_bounded_and_reused(geom):
    one = 32 * 32 * 4  # bytes of an EM chunk
    vol = TissueVolume(geom, chunk_size=(32, 32, 4), max_bytes=3 * one)
    v = np.round(geom.syn_pre[19] / geom.voxel_resolution).astype(np.int64) // [32, 32, 4]
    first = vol.chunk(("em", 0, tuple(v)))
    assert vol.chunk(("em", 0, tuple(v))) is first  # served from the cache
    assert not first.flags.writeable
    for k in range(1, 6):
        vol.chunk(("em", 0, (v[0] + k, v[1], v[2])))
        assert vol.cached_bytes <= 3 * one
    again = vol.chunk(("em", 0, tuple(v)))  # evicted long ago: rendered anew, identical
    assert again is not first and np.array_equal(again, first)
    seg = vol.chunk(("segmentation", 0, tuple(v)))
    assert seg.nbytes == 8 * one and vol.cached_bytes <= 3 * one  # too big to keep
    kept = vol.chunk(("em", 0, tuple(v)))
    assert vol.cached_bytes > 0 and vol.chunk(("em", 0, tuple(v))) is kept
    vol.clear()
    assert vol.cached_bytes == 0
    fresh = vol.chunk(("em", 0, tuple(v)))  # drawn anew after clear(), identical
    assert fresh is not kept and np.array_equal(fresh, kept)


def _box_keys(vol, layer):
    return [k for k in vol._cache if k[0] == "box" and k[1] == layer]


def test_a_cutout_is_drawn_whole_once_and_its_em_gives_its_supervoxels(geom):
    from napari_crant.tissue.em import render_em_and_segmentation

    vol = TissueVolume(geom, chunk_size=(32, 32, 4), max_bytes=10**8)
    v = np.round(geom.syn_pre[7] / geom.voxel_resolution).astype(np.int64)
    box = (v - np.array([40, 30, 2]), v + np.array([30, 40, 3]))
    em_ref, seg_ref = render_em(geom, box, 0), render_segmentation(geom, box, 0)
    both = render_em_and_segmentation(geom, box)
    assert np.array_equal(both[0], em_ref) and np.array_equal(both[1], seg_ref)
    assert both[1][tuple(v - box[0])] == geom.syn_pre_sv[7]
    # the EM of a box not held by cached chunks: exactly the box drawn (no chunk), and its
    # supervoxels kept from the same field
    em = vol.cutout("em", box, 0)
    assert np.array_equal(em, em_ref)
    assert not [k for k in vol._cache if k[0] != "box"]
    assert len(_box_keys(vol, "em")) == 1 and len(_box_keys(vol, "segmentation")) == 1
    held = vol.cached_bytes
    seg = vol.cutout("segmentation", box, 0)
    assert np.array_equal(seg, seg_ref) and vol.cached_bytes == held  # from the cache
    # a box inside it is cut from it; the arrays handed out are copies
    inner = (v - np.array([10, 10, 1]), v + np.array([10, 12, 2]))
    em[:] = 0
    seg[:] = 0
    assert np.array_equal(vol.cutout("em", inner, 0), render_em(geom, inner, 0))
    assert np.array_equal(vol.cutout("segmentation", inner, 0), render_segmentation(geom, inner, 0))
    assert vol.cached_bytes == held
    # a box reaching beyond it is drawn anew; at mip 1 the segmentation is drawn on its own
    # (its samples are not the EM's)
    wider = (box[0] - np.array([5, 0, 0]), box[1])
    assert np.array_equal(vol.cutout("em", wider, 0), render_em(geom, wider, 0))
    assert len(_box_keys(vol, "em")) == 2
    c1 = v // [2, 2, 1]
    box1 = (c1 - np.array([20, 20, 1]), c1 + np.array([20, 20, 2]))
    assert np.array_equal(vol.cutout("em", box1, 1), render_em(geom, box1, 1))
    assert np.array_equal(vol.cutout("segmentation", box1, 1), render_segmentation(geom, box1, 1))


def test_a_neighbouring_cutout_reuses_the_overlap_and_draws_the_rest(geom, monkeypatch):
    from napari_crant.tissue import volume as volume_module
    from napari_crant.tissue.volume import _remainder

    drawn = []  # voxels of each box the volume draws
    plain = volume_module.render_em_and_segmentation

    def recorded(geom_, box_, **kw):
        drawn.append(int(np.prod(np.asarray(box_[1]) - np.asarray(box_[0]))))
        return plain(geom_, box_, **kw)

    monkeypatch.setattr(volume_module, "render_em_and_segmentation", recorded)
    vol = TissueVolume(geom, chunk_size=(32, 32, 4), max_bytes=10**8)
    v = np.round(geom.syn_pre[11] / geom.voxel_resolution).astype(np.int64)
    box = (v - np.array([30, 30, 2]), v + np.array([30, 30, 3]))
    vol.cutout("em", box, 0)
    assert drawn == [60 * 60 * 5]
    # shifted in x, y and z (an L-shaped and layered remainder): only the rest drawn, equal to
    # drawing it whole, EM and supervoxels, and kept whole
    moved = (box[0] + np.array([12, -9, 1]), box[1] + np.array([12, -9, 1]))
    assert np.array_equal(vol.cutout("em", moved, 0), render_em(geom, moved, 0))
    assert sum(drawn[1:]) == 60 * 60 * 5 - 48 * 51 * 4 and len(drawn) <= 1 + 6
    assert len(_box_keys(vol, "em")) == 2 and len(_box_keys(vol, "segmentation")) == 2
    held = vol.cached_bytes
    assert np.array_equal(vol.cutout("segmentation", moved, 0), render_segmentation(geom, moved, 0))
    assert vol.cached_bytes == held
    # too little overlap: drawn whole; at mip 1 the same for the segmentation on its own
    far = (box[0] + np.array([50, 0, 0]), box[1] + np.array([50, 0, 0]))
    assert np.array_equal(vol.cutout("em", far, 0), render_em(geom, far, 0))
    c1 = v // np.array([2, 2, 1])
    b1 = (c1 - np.array([20, 20, 1]), c1 + np.array([20, 20, 2]))
    vol.cutout("segmentation", b1, 1)
    m1 = (b1[0] + np.array([-7, 5, 0]), b1[1] + np.array([-7, 5, 0]))
    assert np.array_equal(vol.cutout("segmentation", m1, 1), render_segmentation(geom, m1, 1))
    # the remainder: disjoint boxes that with the overlap tile the box exactly
    lo, hi = np.array([0, 0, 0]), np.array([10, 8, 6])
    parts = _remainder(lo, hi, np.array([3, -2, 2]), np.array([20, 5, 4]))
    cover = np.zeros((10, 8, 6), int)
    cover[3:10, 0:5, 2:4] += 1
    for plo, phi in parts:
        cover[plo[0]:phi[0], plo[1]:phi[1], plo[2]:phi[2]] += 1
    assert np.all(cover == 1) and len(parts) <= 6


def test_a_cutout_inside_cached_chunks_is_assembled_from_them(geom):
    vol = TissueVolume(geom, chunk_size=(32, 32, 4), max_bytes=10**8)
    v = np.round(geom.syn_pre[19] / geom.voxel_resolution).astype(np.int64)
    box = (v - np.array([20, 20, 1]), v + np.array([20, 20, 2]))
    c0, c1 = box[0] // [32, 32, 4], (box[1] - 1) // [32, 32, 4]
    for cx in range(c0[0], c1[0] + 1):
        for cy in range(c0[1], c1[1] + 1):
            for cz in range(c0[2], c1[2] + 1):
                vol.chunk(("em", 0, (cx, cy, cz)))
    out = vol.cutout("em", box, 0)
    assert np.array_equal(out, render_em(geom, box, 0))
    assert not _box_keys(vol, "em")  # assembled, nothing drawn
    assert out.flags.writeable


def test_volume_bad_arguments(geom):
    with pytest.raises(TissueError, match="chunk_size"):
        TissueVolume(geom, chunk_size=(0, 32, 4))
    with pytest.raises(TissueError, match="max_bytes"):
        TissueVolume(geom, max_bytes=-1)
    vol = TissueVolume(geom)
    with pytest.raises(TissueError, match="unknown layer"):
        vol.chunk(("mesh", 0, (0, 0, 0)))
    with pytest.raises(TissueError, match="chunk key"):
        vol.chunk("em")
    with pytest.raises(TissueError, match="chunk grid"):
        vol.chunk(("em", 0, (10**6, 0, 0)))
    with pytest.raises(TissueError, match="chunk grid"):
        vol.chunk(("em", 0, (-1, 0, 0)))
    with pytest.raises(TissueError, match="mip"):
        vol.chunk(("em", 99, (0, 0, 0)))
