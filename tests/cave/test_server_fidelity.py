"""The local server answers as CRANTb's production services do (issue 14).

Positions in nm with a 1 x 1 x 1 nm table resolution, ``past_id_mapping`` with one future ID per
past root (so caveclient's client-side ``live_query`` agrees with ``live_live_query``), an
8-layer chunkedgraph consistent with the IDs, 404 listing the tables for an unknown table, and
future timestamps refused.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import requests
from cave_helpers import TOKEN, cave_source

import napari_crant as nc
from napari_crant.materialization import MaterializationError
from napari_crant.sources.cave import CaveNotFoundError
from napari_crant.sources.snapshot import SnapshotSource

RES = np.array([8.0, 8.0, 42.0])
POSITIONS = [f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"]


@pytest.fixture(scope="module")
def big_demo(tmp_path_factory):
    """A 300-neuron demo: enough neurons edited after the newest version (4) to check them all."""
    from napari_crant.demo import make_demo

    return str(make_demo(tmp_path_factory.mktemp("demo") / "demo300", n_neurons=300, seed=1, overwrite=True))


@pytest.fixture(scope="module")
def big_client(isolated_home, big_demo):
    from caveclient import CAVEclient

    from napari_crant.server.runner import serve_in_thread

    with serve_in_thread(big_demo, token=TOKEN) as server:
        yield CAVEclient(server.datastack, server_address=server.url, auth_token=TOKEN,
                         write_server_cache=False)


@pytest.fixture(scope="module")
def client(demo_server):
    from caveclient import CAVEclient

    return CAVEclient(demo_server.datastack, server_address=demo_server.url, auth_token=TOKEN,
                      write_server_cache=False)


@pytest.fixture(scope="module")
def snap(demo_path):
    return SnapshotSource(demo_path)


def _edited_after_newest(snap: SnapshotSource) -> list[int]:
    """Roots alive now whose neuron was edited after the newest version."""
    v = snap.versions()
    newest = pd.Timestamp(v[v["valid"]]["timestamp"].max())
    roots = snap.roots_table()
    created = pd.to_datetime(roots["created"], utc=True)
    pick = roots["expired"].isna() & (created > newest) & (roots["operation_id"] != 0)
    return [int(x) for x in roots.loc[pick, "root_id"]]


def _snapshot_voxels(snap: SnapshotSource, ids: np.ndarray) -> pd.DataFrame:
    s = snap._synapses
    all_ids = np.asarray(s["id"]).astype(np.int64)
    rows = np.searchsorted(all_ids, ids) if bool(np.all(all_ids[1:] >= all_ids[:-1])) else None
    if rows is None:
        order = np.argsort(all_ids)
        rows = order[np.searchsorted(all_ids[order], ids)]
    assert np.array_equal(all_ids[rows], ids)
    return pd.DataFrame({c: np.asarray(s[c][rows]).astype(np.int64) for c in POSITIONS})


def test_default_query_positions_are_nm(client, snap):
    root = _edited_after_newest(snap)[0]
    v = client.materialize.most_recent_version()
    md = client.materialize.get_table_metadata("synapses_v2")
    assert md["voxel_resolution"] == [1.0, 1.0, 1.0]
    frames = {
        "query_table": client.materialize.query_table(
            "synapses_v2", filter_in_dict={"post_pt_root_id": [int(snap.roots_of_l2(
                snap.l2_ids(root)[:1], nc.materialization.Materialization(
                    snap.versions()["timestamp"].max(), v, str(v)))[0])]}, split_positions=True),
        "live_query": client.materialize.live_query(
            "synapses_v2", dt.datetime.now(dt.UTC), filter_in_dict={"pre_pt_root_id": [root]},
            split_positions=True),
    }
    for name, df in frames.items():
        assert len(df), name
        vox = _snapshot_voxels(snap, df["id"].to_numpy(np.int64))
        for c in POSITIONS:
            nm = vox[c].to_numpy() * RES["xyz".index(c[-1])]
            assert np.array_equal(df[c].to_numpy(np.float64), nm), (name, c)
    df8 = client.materialize.query_table("synapses_v2", filter_in_dict={"pre_pt_root_id": [root]},
                                         split_positions=True, desired_resolution=[8, 8, 42],
                                         timestamp=dt.datetime.now(dt.UTC))
    vox = _snapshot_voxels(snap, df8["id"].to_numpy(np.int64))
    assert len(df8) and all(np.allclose(df8[c].to_numpy(float), vox[c]) for c in POSITIONS)


def test_cave_source_positions_and_pixels(demo_server, snap):
    root = _edited_after_newest(snap)[0]
    src = cave_source(demo_server)
    assert src.voxel_resolution.tolist() == [8.0, 8.0, 42.0]
    assert src.table_resolution.tolist() == [1.0, 1.0, 1.0]
    a = nc.get_synapses(pre_ids=[root], materialization="live", dataset=src, return_pixels=True, clean=False)
    b = nc.get_synapses(pre_ids=[root], materialization="live", dataset=snap, return_pixels=True, clean=False)
    assert len(a) and a.reset_index(drop=True).equals(b.reset_index(drop=True))


def test_live_query_agrees_with_live_live_query_for_every_edited_neuron(big_client, big_demo):
    client = big_client
    roots = _edited_after_newest(SnapshotSource(big_demo))
    assert len(roots) >= 4
    now = dt.datetime.now(dt.UTC)
    cols = ["id", "pre_pt_root_id", "post_pt_root_id"]
    for col in ("pre_pt_root_id", "post_pt_root_id"):
        for root in roots:
            live = client.materialize.live_query("synapses_v2", now, filter_in_dict={col: [root]})
            livelive = client.materialize.live_live_query("synapses_v2", now,
                                                          filter_in_dict={"synapses_v2": {col: [root]}})
            a = live[cols].sort_values("id").reset_index(drop=True).astype(np.int64)
            b = livelive[cols].sort_values("id").reset_index(drop=True).astype(np.int64)
            assert a.equals(b), (col, root, len(a), len(b))


def test_past_id_mapping_one_id_per_past_root(client, snap):
    roots = _edited_after_newest(snap)
    v = client.materialize.most_recent_version()
    past = client.materialize.get_timestamp(v)
    m = client.chunkedgraph.get_past_ids(roots, timestamp_past=past, timestamp_future=dt.datetime.now(dt.UTC))
    assert set(m["past_id_map"]) == set(roots)
    assert m["future_id_map"], "merges-only histories map to one root"
    for past_id, future in m["future_id_map"].items():
        assert isinstance(future, int)
        assert past_id in {p for ps in m["past_id_map"].values() for p in ps}


def test_layers_match_the_ids(client, snap):
    info = client.chunkedgraph.segmentation_info["graph"]
    assert info["n_layers"] == 8
    roots = snap.roots_table()["root_id"].to_numpy(np.uint64)
    assert set((roots >> np.uint64(56)).tolist()) == {8}
    assert set(info["spatial_bit_masks"]) == {str(i) for i in range(1, 9)}
    root = _edited_after_newest(snap)[0]
    l2 = client.chunkedgraph.get_leaves(root, stop_layer=2)
    assert sorted(int(x) for x in l2) == sorted(int(x) for x in snap.l2_ids(root))
    assert all(int(x) >> 56 == 2 for x in l2)
    sv = int(snap._supervoxels["sv_id"][np.isin(snap._supervoxels["l2_id"], snap.l2_ids(root))][0])
    assert client.chunkedgraph.get_root_id(sv) == root
    assert int(client.chunkedgraph.get_root_id(sv, level2=True)) in {int(x) for x in l2}
    assert [int(x) for x in client.chunkedgraph.get_roots([sv], stop_layer=8)] == [root]
    assert [int(x) for x in client.chunkedgraph.get_roots([sv], stop_layer=2)] == [
        int(client.chunkedgraph.get_root_id(sv, level2=True))]
    lin = snap.lineage()
    parent = int(lin.loc[lin["child_root_id"] == np.uint64(root), "parent_root_id"].iloc[0])
    assert int(client.chunkedgraph.suggest_latest_roots(parent)) in {
        int(x) for x in client.chunkedgraph.get_latest_roots(parent)}


def test_unknown_table_lists_tables(client, demo_server, snap):
    r = requests.post(f"{demo_server.url}/materialize/api/v3/datastack/{demo_server.datastack}/version/2/"
                      "table/synapses_v9/query", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 404
    assert "synapses_v2" in r.json()["message"] and "synapses_v9" in r.json()["message"]
    src = cave_source(demo_server, synapse_table="synapses_v9")
    root = _edited_after_newest(snap)[0]
    with pytest.raises(CaveNotFoundError, match="its tables: synapses_v2, nuclei_v1"):
        nc.get_synapses(pre_ids=[root], dataset=src)


def test_future_timestamp_refused(client, demo_server, snap):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    r = requests.post(f"{demo_server.url}/materialize/api/v3/datastack/{demo_server.datastack}/query",
                      json={"table": "synapses_v2", "timestamp": later.isoformat()},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 400 and "future" in r.json()["message"]
    root = _edited_after_newest(snap)[0]
    for source in (cave_source(demo_server), snap):
        with pytest.raises(MaterializationError, match="in the future"):
            nc.get_synapses(pre_ids=[root], materialization=later, dataset=source)


def test_delta_roots_and_oldest_timestamp(client, snap):
    v = client.materialize.most_recent_version()
    past = client.materialize.get_timestamp(v)
    old, new = client.chunkedgraph.get_delta_roots(past)
    roots = snap.roots_table()
    created = pd.to_datetime(roots["created"], utc=True)
    expired = pd.to_datetime(roots["expired"], utc=True)
    want_new = sorted(int(x) for x in roots.loc[created > pd.Timestamp(past), "root_id"])
    want_old = sorted(int(x) for x in roots.loc[(expired > pd.Timestamp(past)).fillna(False), "root_id"])
    assert sorted(int(x) for x in new) == want_new and want_new
    assert sorted(int(x) for x in old) == want_old and want_old
    oldest = client.chunkedgraph.get_oldest_timestamp()
    assert pd.Timestamp(oldest) == created.min()
