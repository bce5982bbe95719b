"""get_em_cutout / get_segmentation_cutout over a snapshot: world coordinates, roots at a
timestamp, an edit showing in the segmentation, bad input, a dataset without tissue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tissue_data import geometry, snapshot

import napari_crant as nc
from napari_crant import InvalidArgumentError, TissueUnavailable
from napari_crant.materialization import MaterializationError, resolve_materialization
from napari_crant.sources.snapshot import SnapshotSource
from napari_crant.tissue import render_em, render_segmentation

SIZE = (1024.0, 1024.0, 126.0)  # 128 x 128 x 3 voxels at mip 0


@pytest.fixture(scope="module")
def source():
    return SnapshotSource(snapshot())


def edited_synapse(source, early, late, side):
    """A synapse whose ``side`` supervoxel's root differs between materializations ``early`` and ``late``."""
    a, b = resolve_materialization(source, early), resolve_materialization(source, late)
    sv = source._synapses[f"{side}_pt_supervoxel_id"]
    ra, rb = source.roots_of_supervoxels(sv, a), source.roots_of_supervoxels(sv, b)
    rows = np.flatnonzero((ra != rb) & (ra != 0) & (rb != 0))
    assert len(rows), f"the tiny demo has no edit between {early} and {late}"
    return int(rows[0])


def point_nm(source, row: int, side: str = "pre") -> np.ndarray:
    syn = source._synapses
    xyz = np.array([syn[f"{side}_pt_position_{a}"][row] for a in "xyz"], np.float64)
    return xyz * source.voxel_resolution


def test_em_cutout_is_the_rendered_em_in_nm_world_coordinates(source):
    p = point_nm(source, 7)
    c = nc.get_em_cutout(p, size_nm=SIZE, dataset=source)
    assert c.data.dtype == np.uint8 and c.data.shape == (3, 128, 128)
    assert c.scale == (42.0, 8.0, 8.0)
    vox = np.round(p / source.voxel_resolution).astype(np.int64)
    lo = vox - (64, 64, 1)
    assert c.bbox_vox == (tuple(lo.tolist()), tuple((lo + np.array((128, 128, 3))).tolist()))
    np.testing.assert_allclose(c.translate, (lo * source.voxel_resolution)[::-1])
    expected = render_em(geometry(), (lo, lo + np.array((128, 128, 3))), 0)
    np.testing.assert_array_equal(c.data, expected.transpose(2, 1, 0))
    # the voxel drawn at the synapse's position is the middle one
    assert c.index_of(p[::-1]) == (1, 64, 64)
    assert c.attrs["dataset"] == source.name and c.attrs["url"] == "synthetic" and c.attrs["layer"] == "em"


def test_em_at_mip1_is_centred_on_its_footprint(source):
    p = point_nm(source, 7)
    c = nc.get_em_cutout(p, size_nm=SIZE, mip=1, dataset=source)
    assert c.data.shape == (3, 64, 64) and c.scale == (42.0, 16.0, 16.0)
    lo = np.array(c.bbox_vox[0]) // (2, 2, 1)
    np.testing.assert_allclose(c.translate, (lo * (16, 16, 42) + (4, 4, 0))[::-1])
    expected = render_em(geometry(), (lo, lo + np.array((64, 64, 3))), 1)
    np.testing.assert_array_equal(c.data, expected.transpose(2, 1, 0))


def test_bbox_nm_gives_the_same_block(source):
    p = point_nm(source, 3)
    a = nc.get_em_cutout(p, size_nm=SIZE, dataset=source)
    lo = np.array(a.translate[::-1])
    b = nc.get_em_cutout(bbox_nm=(lo, lo + np.array(SIZE)), dataset=source)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.translate == b.translate and a.bbox_vox == b.bbox_vox


def test_supervoxels_and_roots_at_the_pre_point(source):
    row = 11
    p = point_nm(source, row)
    sv = nc.get_segmentation_cutout(p, size_nm=SIZE, agglomerate=False, dataset=source)
    assert sv.data.dtype == np.uint64
    assert sv.value_at(p[::-1]) == source._synapses["pre_pt_supervoxel_id"][row]
    vox = np.round(p / source.voxel_resolution).astype(np.int64) - (64, 64, 1)
    expected = render_segmentation(geometry(), (vox, vox + np.array((128, 128, 3))), 0)
    np.testing.assert_array_equal(sv.data, expected.transpose(2, 1, 0))
    roots = nc.get_segmentation_cutout(p, size_nm=SIZE, dataset=source)
    assert roots.attrs["materialization"] == "latest" and roots.attrs["agglomerate"] is True
    at = resolve_materialization(source, "latest")
    uniq = np.unique(sv.data)
    mapped = dict(zip(uniq.tolist(), source.roots_of_supervoxels(uniq, at).tolist(), strict=True))
    assert mapped.get(0, 0) == 0
    np.testing.assert_array_equal(roots.data, np.vectorize(mapped.get, otypes=[np.uint64])(sv.data))


@pytest.mark.parametrize(("early", "late", "side"), [
    (2, 3, "pre"), (3, "latest", "post"), ("latest", "live", "post")])
def test_an_edit_shows_in_the_segmentation(source, early, late, side):
    row = edited_synapse(source, early, late, side)
    p = point_nm(source, row, side)
    syn_id = int(source._synapses["id"][row])
    seen = []
    for m in (early, late):
        c = nc.get_segmentation_cutout(p, size_nm=SIZE, materialization=m, dataset=source)
        root = c.value_at(p[::-1])
        syn = nc.get_synapses(**{f"{side}_ids": [root]}, materialization=m, dataset=source, clean=False)
        # the voxel at the synapse's point holds that side's root at the timestamp
        assert syn_id in set(syn["id"].tolist())
        assert root == syn.loc[syn["id"] == syn_id, f"{side}_pt_root_id"].to_numpy(np.uint64)[0]
        assert c.attrs["materialization"] == str(m)
        if m != "live":
            assert c.attrs["timestamp"] == resolve_materialization(source, m).timestamp.isoformat()
        seen.append(root)
    assert seen[0] != seen[1] and seen[0] > 2**53 and seen[1] > 2**53


@pytest.mark.parametrize(("kwargs", "names"), [
    ({"center_nm": (-5000.0, 1000.0, 1000.0)}, "center_nm"),
    ({"center_nm": (1e9, 1000.0, 1000.0)}, "center_nm"),
    ({"center_nm": (1000.0, 1000.0)}, "center_nm"),
    ({"center_nm": ("a", 1, 2)}, "center_nm"),
    ({"center_nm": (1000.0, 1000.0, 1000.0), "size_nm": (0, 100, 100)}, "size_nm"),
    ({"center_nm": (1000.0, 1000.0, 1000.0), "size_nm": (100, -1, 100)}, "size_nm"),
    ({"center_nm": (1000.0, 1000.0, 1000.0), "size_nm": (100, float("nan"), 100)}, "size_nm"),
    ({"center_nm": (200000.0, 150000.0, 75000.0), "size_nm": (1e5, 1e5, 1e4)}, "size_nm"),
    ({"center_nm": (1000.0, 1000.0, 1000.0), "mip": 99}, "mip"),
    ({"center_nm": (1000.0, 1000.0, 1000.0), "mip": -1}, "mip"),
    ({"center_nm": (1000.0, 1000.0, 1000.0), "mip": 1.5}, "mip"),
    ({"center_nm": (1000.0, 1000.0, 1000.0), "mip": True}, "mip"),
    ({}, "center_nm"),
    ({"center_nm": (1000.0, 1000.0, 1000.0), "bbox_nm": ((0, 0, 0), (10, 10, 10))}, "bbox_nm"),
    ({"bbox_nm": ((0, 0, 0), (0, 10, 10))}, "bbox_nm"),
    ({"bbox_nm": ((-900, -900, -900), (-100, -100, -100))}, "bbox_nm"),
    ({"bbox_nm": "everything"}, "bbox_nm"),
])
def test_bad_input_names_the_argument(source, kwargs, names):
    for fn in (nc.get_em_cutout, nc.get_segmentation_cutout):
        with pytest.raises(InvalidArgumentError, match=names):
            fn(dataset=source, **kwargs)


def test_bad_segmentation_arguments(source):
    p = point_nm(source, 0)
    with pytest.raises(InvalidArgumentError, match="agglomerate"):
        nc.get_segmentation_cutout(p, agglomerate="no", dataset=source)
    with pytest.raises(MaterializationError):
        nc.get_segmentation_cutout(p, materialization=99, dataset=source)
    c = nc.get_em_cutout(p, size_nm=SIZE, dataset=source)
    with pytest.raises(InvalidArgumentError, match="outside this cutout"):
        c.value_at((p[2], p[1] + 5000, p[0]))
    with pytest.raises(InvalidArgumentError, match="world_zyx_nm"):
        c.value_at((1, 2))


def test_near_the_edge_the_block_is_clipped_to_the_volume(source):
    c = nc.get_em_cutout((4.0, 4.0, 0.0), size_nm=SIZE, dataset=source)
    assert c.bbox_vox[0] == (0, 0, 0) and c.data.shape == (2, 65, 65)
    assert c.translate == (0.0, 0.0, 0.0)


def test_a_dataset_without_tissue_says_what_it_lacks(tiny_path):
    with pytest.raises(TissueUnavailable, match=r"has no image \(EM\) source.*skeleton_nodes"):
        nc.get_em_cutout((1000, 1000, 1000), dataset=tiny_path)
    with pytest.raises(TissueUnavailable, match="has no segmentation source"):
        nc.get_segmentation_cutout((1000, 1000, 1000), dataset=tiny_path)
    assert issubclass(TissueUnavailable, ValueError)


def test_cutout_provenance_is_recorded(source):
    c = nc.get_segmentation_cutout(point_nm(source, 2), size_nm=SIZE, materialization=3,
                                   dataset=source)
    assert c.attrs["materialization_version"] == 3
    assert pd.Timestamp(c.attrs["timestamp"]) == resolve_materialization(source, 3).timestamp
    assert c.attrs["napari_crant_version"] == nc.__version__


def test_the_synthetic_tissue_is_opened_once_per_process_and_snapshot(source):
    from concurrent.futures import ThreadPoolExecutor

    from napari_crant.tissue.segmentation import model_of
    from napari_crant.tissue.synthetic import synthetic_tissue

    def open_and_model(_):
        tissue = synthetic_tissue(snapshot())
        return tissue, tissue.volume, model_of(tissue.volume.geom)

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(open_and_model, range(8)))
    assert len({id(t) for t, _, _ in got}) == 1
    assert len({id(v) for _, v, _ in got}) == 1
    assert len({id(m) for _, _, m in got}) == 1
    assert source._tissue is got[0][0]  # the snapshot source draws through the same one
