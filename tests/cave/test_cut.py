"""A snapshot cut from the local CAVE server, reopened, answers like the source for its neurons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cave_helpers import cave_source

import napari_crant as nc
from napari_crant.snapshot.cut import cut_snapshot
from napari_crant.sources.snapshot import SnapshotSource


def _pick(demo_path: str) -> list[int]:
    """Two neurons: one edited after the latest version (old ID given), one never edited."""
    snap = SnapshotSource(demo_path)
    lin = snap.lineage().sort_values("timestamp")
    latest = snap.versions().query("valid")["timestamp"].max()
    late = lin[lin["timestamp"] > latest]
    edited = int(late["parent_root_id"].iloc[0]) if len(late) else int(lin["parent_root_id"].iloc[-1])
    touched = set(lin["parent_root_id"].tolist()) | set(lin["child_root_id"].tolist())
    roots = snap.roots_table()
    stable = [int(r) for r in roots[roots["expired"].isna()]["root_id"] if int(r) not in touched]
    return [edited, stable[0]]


@pytest.fixture(scope="module")
def cut(demo_server, demo_path, tmp_path_factory):
    src = cave_source(demo_server, annotations=demo_path)
    ids = _pick(demo_path)
    out = cut_snapshot(src, ids, tmp_path_factory.mktemp("cut") / "two", materialization="latest")
    return SnapshotSource(out), src, ids


@pytest.mark.parametrize("mat", ["latest", "live"])
def test_cut_matches_source(cut, demo_path, mat):
    snap_cut, cave, ids = cut
    for fn in (nc.get_connectivity, nc.get_synapse_counts):
        pd.testing.assert_frame_equal(fn(ids, materialization=mat, dataset=snap_cut),
                                      fn(ids, materialization=mat, dataset=cave))
    pd.testing.assert_frame_equal(nc.get_synapses(ids, materialization=mat, dataset=snap_cut),
                                  nc.get_synapses(ids, materialization=mat, dataset=demo_path))
    pd.testing.assert_frame_equal(nc.update_ids(ids, timestamp=mat, dataset=snap_cut),
                                  nc.update_ids(ids, timestamp=mat, dataset=demo_path))


def test_cut_skeletons_and_versions(cut, demo_path):
    snap_cut, _, ids = cut
    pd.testing.assert_frame_equal(nc.list_versions(dataset=snap_cut), nc.list_versions(dataset=demo_path))
    for root in nc.update_ids(ids, dataset=demo_path)["new_id"]:
        pd.testing.assert_frame_equal(nc.get_l2_skeleton(int(root), dataset=snap_cut).nodes,
                                      nc.get_l2_skeleton(int(root), dataset=demo_path).nodes)
    assert snap_cut.manifest["info"]["cut_ids"] == ids
    assert snap_cut.manifest["counts"]["synapses"] > 0


def test_cut_from_snapshot_with_partners(demo_path, tmp_path):
    src = SnapshotSource(demo_path)
    ids = _pick(demo_path)[1:]
    out = cut_snapshot(src, ids, tmp_path / "p", materialization=2, with_partners=True)
    c = SnapshotSource(out)
    pd.testing.assert_frame_equal(nc.get_connectivity(ids, materialization=2, dataset=c),
                                  nc.get_connectivity(ids, materialization=2, dataset=src))
    partner = int(nc.get_connectivity(ids, dataset=src)["pre"].iloc[-1])
    pd.testing.assert_frame_equal(nc.get_l2_skeleton(partner, dataset=c).nodes,
                                  nc.get_l2_skeleton(partner, dataset=src).nodes)
    assert np.isfinite(c.l2_attributes(c.l2_ids(partner))["x"]).all()


def test_snapshot_command(demo_server, demo_path, tmp_path, isolated_home):
    from cave_helpers import TOKEN, unregister

    from napari_crant.cli import main
    from napari_crant.sources.cave import register_cave_dataset

    register_cave_dataset("demo-local", demo_server.url, demo_server.datastack, annotation_source=demo_path,
                          auth_token=TOKEN)
    ids = _pick(demo_path)
    out = tmp_path / "cli"
    try:
        assert main(["snapshot", "--dataset", "demo-local", "--ids", *map(str, ids), "--out", str(out)]) == 0
    finally:
        unregister("demo-local")
    pd.testing.assert_frame_equal(nc.get_connectivity(ids, dataset=str(out)),
                                  nc.get_connectivity(ids, dataset=demo_path))
