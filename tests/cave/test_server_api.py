"""The local server answers the unmodified caveclient like CAVE does."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from cave_helpers import TOKEN

import napari_crant as nc
import tiny
from tiny import A0, A2, B0, B2, CD, L2, X, sv


@pytest.fixture(scope="module")
def client(tiny_server):
    from caveclient import CAVEclient

    return CAVEclient(tiny_server.datastack, server_address=tiny_server.url, auth_token=TOKEN,
                      write_server_cache=False)


def utc(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s).replace(tzinfo=dt.UTC)


def test_info_and_versions(client, tiny_server):
    assert client.info.get_datastack_info()["synapse_table"] == "synapses_v2"
    assert client.materialize.get_versions() == [2, 3]
    assert client.materialize.get_versions(expired=True) == [1, 2, 3]
    assert client.materialize.get_timestamp(3) == utc("2025-06-01")
    assert client.materialize.get_tables() == ["synapses_v2", "nuclei_v1", "cell_annotations_v1"]
    nuc = client.materialize.query_table("nuclei_v1", split_positions=True, materialization_version=3)
    assert list(nuc["pt_root_id"]) == [int(A2), int(B2)]
    md = client.materialize.get_table_metadata("synapses_v2")
    assert md["voxel_resolution"] == [1.0, 1.0, 1.0]  # nm, as CRANTb's synapses_v2
    assert client.chunkedgraph.segmentation_info["graph"]["n_layers"] >= 3


def test_query_table_filters(client):
    q = client.materialize.query_table
    df = q("synapses_v2", filter_in_dict={"pre_pt_root_id": [int(A2)]}, split_positions=True,
           materialization_version=3)
    assert sorted(df["id"] - tiny.SYN_BASE) == [1, 2, 3, 4, 5, 9, 10]
    df = q("synapses_v2", filter_equal_dict={"post_pt_root_id": int(B0)}, materialization_version=2,
           select_columns=["id", "post_pt_root_id", "size"])
    assert list(df.columns) == ["id", "post_pt_root_id", "size"]
    assert sorted(df["id"] - tiny.SYN_BASE) == [1, 2, 3, 4, 5]
    df = q("synapses_v2", filter_in_dict={"pre_pt_root_id": [int(A2)]},
           filter_out_dict={"post_pt_root_id": [int(B2)]}, materialization_version=3, split_positions=True)
    assert sorted(df["id"] - tiny.SYN_BASE) == [4, 9, 10]
    df = q("synapses_v2", filter_greater_dict={"size": 100}, materialization_version=3, limit=2, offset=1)
    assert list(df["id"] - tiny.SYN_BASE) == [5, 12]
    df = q("synapses_v2", filter_in_dict={"id": [int(tiny.synapse_id(1))]}, desired_resolution=[1, 1, 1])
    x, y, z = tiny.positions()[1]["pre"]
    assert list(df["pre_pt_position"].iloc[0]) == [x * 8.0, y * 8.0, z * 42.0]


def test_live_queries(client):
    now = dt.datetime.now(dt.UTC)
    df = client.materialize.live_live_query("synapses_v2", now,
                                            filter_in_dict={"synapses_v2": {"post_pt_root_id": [int(CD)]}})
    assert sorted(df["id"] - tiny.SYN_BASE) == [6, 7, 8]
    # caveclient's client-side live_query (past_id_mapping + version + roots_binary)
    df = client.materialize.live_query("synapses_v2", now, filter_in_dict={"post_pt_root_id": [int(CD)]})
    assert sorted(df["id"] - tiny.SYN_BASE) == [6, 7, 8]
    assert set(df["post_pt_root_id"]) == {int(CD)}


def test_chunkedgraph(client):
    cg = client.chunkedgraph
    assert list(cg.get_roots([int(sv(1)), int(sv(9)), 0])) == [int(A2), int(CD), 0]
    assert list(cg.get_roots([int(sv(1))], timestamp=utc("2025-02-02"))) == [int(A0)]
    assert list(cg.get_roots([int(sv(8))], stop_layer=2)) == [int(L2["b3"])]
    assert cg.get_root_id(int(sv(8))) == int(X)
    assert list(cg.is_latest_roots([int(A0), int(A2)])) == [False, True]
    assert list(cg.is_latest_roots([int(B0)], timestamp=utc("2025-04-02"))) == [True]
    assert cg.get_root_timestamps([int(A2)])[0] == utc("2025-03-01")
    assert sorted(cg.get_latest_roots(int(B0))) == sorted([int(B2), int(X)])
    assert sorted(cg.get_original_roots(int(A2))) == sorted([int(A0), int(tiny.F0)])
    past = cg.get_past_ids([int(CD)], timestamp_past=utc("2025-06-02"))
    assert sorted(past["past_id_map"][int(CD)]) == sorted([int(tiny.C0), int(tiny.D0)])
    assert list(cg.get_leaves(int(A2), stop_layer=2)) == [int(L2[n]) for n in ("a1", "a2", "a3", "f1")]
    assert sorted(cg.get_leaves(int(X))) == [int(sv(8))]
    assert len(cg.level2_chunk_graph(int(A2))) == 3
    assert list(cg.is_valid_nodes([int(A0), 12345])) == [True, False]


def test_l2cache(client):
    data = client.l2cache.get_l2data([int(L2["a1"]), 5], attributes=["rep_coord_nm", "max_dt_nm"])
    assert data[str(int(L2["a1"]))] == {"rep_coord_nm": [10000.0, 10000.0, 4200.0], "max_dt_nm": 2000.0}
    assert data["5"] == {}
    assert client.l2cache.has_cache()


def test_skeleton_service(client, tiny_path, monkeypatch):
    assert client.skeleton.get_versions() == [-1, 0, 1, 2, 3, 4]
    # get_skeleton asks cloud-volume for the root layer first; it is optional, so patch it out
    monkeypatch.setattr(type(client.info), "segmentation_cloudvolume", lambda self, **kw: None)
    sk = client.skeleton.get_skeleton(int(A2), skeleton_version=4, output_format="dict")
    nodes = nc.get_l2_skeleton(int(A2), dataset=tiny_path).nodes
    np.testing.assert_array_equal(sk["lvl2_ids"], nodes["l2_id"].to_numpy(np.int64))
    np.testing.assert_allclose(sk["vertices"], nodes[["x", "y", "z"]].to_numpy())
    swc = client.skeleton.get_skeleton(int(A2), skeleton_version=4, output_format="swc")
    assert list(swc["parent"]) == list(nodes["parent_id"])


def test_errors(client, tiny_server):
    import requests

    with pytest.raises(requests.HTTPError, match=r"404.*nope.* not found \(tables: synapses_v2, nuclei_v1"):
        client.materialize.query_table("nope", materialization_version=3)
    r = requests.get(f"{tiny_server.url}/info/api/v2/datastack/full/other",
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 404
    r = requests.get(f"{tiny_server.url}/info/api/v2/datastack/full/{tiny_server.datastack}", timeout=5)
    assert r.status_code == 401 and TOKEN not in r.text
