"""Every public query gives identical results through the snapshot and through CAVE.

The same snapshot is read directly (``SnapshotSource``) and through the local CAVE server with
an unmodified caveclient (``CaveSource``), for ``'latest'``, an older integer version and
``'live'``, including IDs edited after a version (they must be mapped, not dropped).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cave_helpers import cave_source

import napari_crant as nc
from napari_crant.sources.snapshot import SnapshotSource

MATERIALIZATIONS = ["latest", 2, "live"]


def _edited_and_stable(path: str, n_stable: int = 3) -> list[int]:
    """Roots touched by edits (parents and children) plus a few roots never edited."""
    src = SnapshotSource(path)
    lin = src.lineage()
    edited = pd.unique(np.concatenate([lin["parent_root_id"].to_numpy(np.uint64),
                                       lin["child_root_id"].to_numpy(np.uint64)]))
    roots = src.roots_table()
    stable = roots[roots["expired"].isna() & ~roots["root_id"].isin(edited)]["root_id"].to_numpy(np.uint64)
    return [int(x) for x in edited] + [int(x) for x in stable[:n_stable]]


@pytest.fixture(scope="module", params=["tiny", "demo"])
def pair(request, tiny_path, demo_path):
    """(snapshot source, CAVE source over the local server, query IDs) for one dataset."""
    if request.param == "tiny":
        server = request.getfixturevalue("tiny_server")
        path = tiny_path
    else:
        server = request.getfixturevalue("demo_server")
        path = demo_path
    snap = SnapshotSource(path)
    cave = cave_source(server, annotations=path, name=snap.name, nucleus_table="nuclei_v1")
    ids = _edited_and_stable(path)
    return snap, cave, ids


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_list_versions(pair):
    snap, cave, _ = pair
    same(nc.list_versions(dataset=snap), nc.list_versions(dataset=cave))


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_get_synapses(pair, mat):
    snap, cave, ids = pair
    a = nc.get_synapses(ids, materialization=mat, dataset=snap)
    b = nc.get_synapses(ids, materialization=mat, dataset=cave)
    assert len(a) > 0
    assert a["pre_pt_root_id"].dtype == np.uint64
    same(a, b)
    # pre AND post, nm coordinates, split positions
    half = ids[: max(1, len(ids) // 2)]
    a = nc.get_synapses(half, ids, materialization=mat, return_pixels=False, split_positions=True,
                        dataset=snap)
    b = nc.get_synapses(half, ids, materialization=mat, return_pixels=False, split_positions=True,
                        dataset=cave)
    same(a, b)


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_get_connectivity(pair, mat):
    snap, cave, ids = pair
    a = nc.get_connectivity(ids, materialization=mat, dataset=snap)
    b = nc.get_connectivity(ids, materialization=mat, dataset=cave)
    assert len(a) > 0
    same(a, b)
    assert a.attrs.get("updated_ids") == b.attrs.get("updated_ids")
    same(nc.get_connectivity(ids, materialization=mat, threshold=2, min_size=50, clean=False, dataset=snap),
         nc.get_connectivity(ids, materialization=mat, threshold=2, min_size=50, clean=False, dataset=cave))


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_get_adjacency(pair, mat):
    snap, cave, ids = pair
    same(nc.get_adjacency(ids, ids, materialization=mat, dataset=snap),
         nc.get_adjacency(ids, ids, materialization=mat, dataset=cave))
    same(nc.get_adjacency(ids, ids, materialization=mat, symmetric=True, dataset=snap),
         nc.get_adjacency(ids, ids, materialization=mat, symmetric=True, dataset=cave))


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_get_synapse_counts(pair, mat):
    snap, cave, ids = pair
    same(nc.get_synapse_counts(ids, materialization=mat, dataset=snap),
         nc.get_synapse_counts(ids, materialization=mat, dataset=cave))


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_update_ids(pair, mat):
    snap, cave, ids = pair
    a = nc.update_ids(ids, timestamp=mat, dataset=snap)
    nc.clear_update_cache()
    b = nc.update_ids(ids, timestamp=mat, dataset=cave)
    same(a, b)
    assert a["changed"].any()  # some IDs were edited relative to every materialization tested


def test_update_ids_without_annotations(pair):
    """The lineage / L2-overlap path (no supervoxel known from annotations)."""
    snap, cave, ids = pair
    a = nc.update_ids(ids, dataset=snap, use_annotations=False)
    nc.clear_update_cache()
    b = nc.update_ids(ids, dataset=cave, use_annotations=False)
    same(a, b)


def test_l2_skeleton_nodes(pair):
    snap, cave, ids = pair
    current = nc.update_ids(ids[:4], dataset=snap)["new_id"].unique()[:3]
    for root in current:
        a = nc.get_l2_skeleton(int(root), dataset=snap)
        b = nc.get_l2_skeleton(int(root), dataset=cave)
        same(a.nodes, b.nodes)
        assert np.array_equal(np.atleast_1d(a.soma), np.atleast_1d(b.soma))


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_attach_synapses(pair, mat):
    snap, cave, ids = pair
    current = nc.update_ids(ids[:4], dataset=snap)["new_id"].unique()[:2]
    for root in current:
        a = nc.attach_synapses(nc.get_l2_skeleton(int(root), dataset=snap), materialization=mat, dataset=snap)
        b = nc.attach_synapses(nc.get_l2_skeleton(int(root), dataset=snap), materialization=mat, dataset=cave)
        same(a.connectors, b.connectors)


@pytest.mark.parametrize("mat", MATERIALIZATIONS)
def test_l2_skeleton_updated(pair, mat):
    """Outdated IDs mapped to their roots at each materialization, then skeletonised."""
    snap, cave, ids = pair
    for old in ids[:3]:
        a = nc.get_l2_skeleton([old], update_ids=True, materialization=mat, dataset=snap)
        b = nc.get_l2_skeleton([old], update_ids=True, materialization=mat, dataset=cave)
        assert [int(n.id) for n in a] == [int(n.id) for n in b]
        for na, nb in zip(a, b, strict=True):
            same(na.nodes, nb.nodes)


def test_nuclei(pair):
    snap, cave, _ = pair
    same(snap.nuclei().sort_values("nucleus_id").reset_index(drop=True), cave.nuclei())


def test_root_primitives(pair):
    """The DataSource primitives themselves agree (status, creation, supervoxel/L2 lookups)."""
    snap, cave, ids = pair
    ids = np.asarray([*ids, 12345], dtype=np.uint64)
    from napari_crant.materialization import resolve_materialization

    for mat in MATERIALIZATIONS:
        at = resolve_materialization(snap, mat)
        ka, aa = snap.root_status(ids, at)
        kb, ab = cave.root_status(ids, at)
        np.testing.assert_array_equal(ka, kb)
        np.testing.assert_array_equal(aa, ab)
    pd.testing.assert_series_equal(snap.root_created(ids), cave.root_created(ids))
    sv = snap.synapse_rows(np.arange(min(50, len(snap._synapses))), resolve_materialization(snap, "live"))
    svs = sv["pre_pt_supervoxel_id"].to_numpy(np.uint64)
    np.testing.assert_array_equal(snap.l2_of_supervoxels(svs), cave.l2_of_supervoxels(svs))
    at = resolve_materialization(snap, 2)
    np.testing.assert_array_equal(snap.roots_of_supervoxels(svs, at), cave.roots_of_supervoxels(svs, at))
