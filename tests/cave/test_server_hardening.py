"""The local CAVE server refuses hostile or malformed requests with a 4xx naming the field (issue 10).

Requests go through the real application (FastAPI's test client, and real HTTP through uvicorn
where the transport matters); valid caveclient calls are covered by the rest of ``tests/cave``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
from cave_helpers import TOKEN
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tiny
from napari_crant.server.app import create_app
from napari_crant.server.cli import ENV_TOKEN
from napari_crant.server.runner import free_port, serve_in_thread
from napari_crant.sources.snapshot import SnapshotSource
from tiny import A2, B0, CD, L2, sv

DS = "kronauer_ant"
MAT = f"/materialize/api/v3/datastack/{DS}"
QUERY = f"{MAT}/version/3/table/synapses_v2/query"
LIVE = f"{MAT}/query"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def app(tiny_path):
    return create_app(SnapshotSource(tiny_path), token=TOKEN)


@pytest.fixture(scope="module")
def http(app):
    with TestClient(app, raise_server_exceptions=False, headers=AUTH) as client:
        yield client


@pytest.fixture(scope="module")
def cg(app):
    return f"/segmentation/api/v1/table/{app.state.backend.chunkedgraph.pcg_table}"


def refused(response, *words: str, status: int = 400) -> str:
    """The message of a JSON error answer with ``status``, checked to name every word."""
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["message"]
    for word in words:
        assert word in message, (word, message)
    return message


def ids_of(arrow_response) -> list[int]:
    import pyarrow as pa

    return sorted(int(x) - tiny.SYN_BASE for x in pa.ipc.open_stream(arrow_response.content).read_all()["id"])


# -- IDs ----------------------------------------------------------------------------------------
def test_float_ids_are_refused_everywhere(http, cg, demo_path):
    """float64 rounds 18-digit roots onto other roots: a float ID is refused, never rounded."""
    roots = SnapshotSource(demo_path).roots_table()["root_id"].to_numpy(np.uint64)
    rounded = np.array([int(float(r)) for r in roots], dtype=np.uint64)
    onto_other = roots[(rounded != roots) & np.isin(rounded, roots)]
    assert len(onto_other)  # the danger is real: some demo roots round onto other demo roots
    for root in onto_other:
        refused(http.post(QUERY, json={"filter_in_dict": {"pre_pt_root_id": [float(root)]}}), "float")
    f = float(A2)
    refused(http.post(QUERY, json={"filter_in_dict": {"pre_pt_root_id": [f]}}),
            "filter_in_dict['pre_pt_root_id']", "float")
    refused(http.post(QUERY, json={"filter_equal_dict": {"post_pt_root_id": f}}),
            "filter_equal_dict", "float")
    refused(http.post(QUERY, json={"filter_greater_dict": {"id": 1.5}}), "filter_greater_dict['id']")
    refused(http.post(LIVE, json={"table": "synapses_v2", "filter_in_dict": {"synapses_v2": {"id": [1.0]}}}),
            "filter_in_dict['id']")
    for route, key in (("/is_latest_roots", "node_ids"), ("/root_timestamps", "node_ids"),
                       ("/lineage_graph_multiple", "root_ids")):
        refused(http.post(cg + route, json={key: [int(A2), f]}), f"{key}[1]", "float")
    for route, key in (("/past_id_mapping", "root_ids"), ("/valid_nodes", "node_ids")):
        refused(http.request("GET", cg + route, content=json.dumps({key: [f]})), key, "float")
    refused(http.post("/l2cache/api/v1/table/" + cg.rsplit("/", 1)[1] + "/attributes",
                      json={"l2_ids": [float(L2["a1"])]}), "l2_ids[0]", "float")
    for path in (f"/node/{f}/root", f"/node/{int(A2)}.0/leaves", "/node/1e17/lvl2_graph"):
        refused(http.get(cg + path), "not an ID")


@pytest.mark.parametrize("bad", [-1, 2**64, 2**70, "12a", True, None, [1], {"a": 1}])
def test_out_of_range_or_non_numeric_ids(http, cg, bad):
    refused(http.post(QUERY, json={"filter_in_dict": {"pre_pt_root_id": [bad]}}), "filter_in_dict")
    refused(http.post(cg + "/is_latest_roots", json={"node_ids": [bad]}), "node_ids[0]")
    if isinstance(bad, int) and not isinstance(bad, bool):
        refused(http.get(f"{cg}/node/{bad}/root"), "node_id")
        refused(http.get(f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/3/{bad}/flatdict"), "root_id")


def test_id_lists_must_be_lists(http, cg):
    refused(http.post(cg + "/is_latest_roots", json={"node_ids": int(A2)}), "node_ids", "list")
    refused(http.post(QUERY, json={"filter_in_dict": {"pre_pt_root_id": int(A2)}}), "list")


def test_largest_uint64_is_a_valid_unknown_id(http, cg):
    top = 2**64 - 1
    r = http.post(QUERY, json={"filter_in_dict": {"pre_pt_root_id": [top, int(A2)]}})
    assert r.status_code == 200 and ids_of(r) == [1, 2, 3, 4, 5, 9, 10]
    r = http.post(QUERY, json={"filter_less_dict": {"pre_pt_root_id": top}})
    assert r.status_code == 200 and len(ids_of(r)) == 12
    assert http.post(cg + "/is_latest_roots", json={"node_ids": [top, str(int(A2))]}).json() == {
        "is_latest": [False, True]}


# -- filters, windows, resolutions ------------------------------------------------------------------
@pytest.mark.parametrize("filters, words", [
    ({"filter_greater_dict": {"size": "abc"}}, ["filter_greater_dict['size']", "not a number"]),
    ({"filter_equal_dict": {"size": [1]}}, ["filter_equal_dict['size']"]),
    ({"filter_in_dict": {"size": ["x"]}}, ["filter_in_dict['size']"]),
    ({"filter_less_dict": {"size": 1e400}}, ["filter_less_dict['size']", "finite"]),
    ({"filter_greater_dict": {"created": "garbage"}}, ["filter_greater_dict['created']", "ISO 8601"]),
    ({"filter_equal_dict": {"valid": "yes"}}, ["filter_equal_dict['valid']"]),
    ({"filter_regex_dict": {"pre_pt_root_id": "(["}}, ["filter_regex_dict['pre_pt_root_id']", "regular"]),
    ({"filter_regex_dict": {"pre_pt_root_id": 5}}, ["filter_regex_dict", "string"]),
    ({"filter_spatial_dict": {"pre_pt_position": [[0, 0], [1, 1, 1]]}}, ["filter_spatial_dict", "box"]),
    ({"filter_spatial_dict": {"nowhere": [[0, 0, 0], [1, 1, 1]]}}, ["no column 'nowhere_x'"]),
    ({"filter_in_dict": {"no_such_column": [1]}}, ["no column 'no_such_column'"]),
    ({"filter_in_dict": [1, 2]}, ["filter_in_dict", "object"]),
    ({"filter_fancy_dict": {"size": 1}}, ["unsupported filter 'filter_fancy_dict'"]),
    ({"limit": "abc"}, ["limit"]),
    ({"limit": -1}, ["limit", "-1"]),
    ({"offset": -5}, ["offset", "-5"]),
    ({"limit": 2.5}, ["limit"]),
    ({"desired_resolution": [1, 1]}, ["desired_resolution"]),
    ({"desired_resolution": [0, 1, 1]}, ["desired_resolution"]),
    ({"desired_resolution": [-4, 4, 40]}, ["desired_resolution"]),
    ({"desired_resolution": ["a", 1, 1]}, ["desired_resolution"]),
    ({"desired_resolution": 8}, ["desired_resolution"]),
    ({"select_columns": "id"}, ["select_columns"]),
    ({"select_columns": ["id", "nope"]}, ["select_columns", "'nope'"]),
])
def test_bad_query_bodies(http, filters, words):
    body = json.dumps(filters).replace("Infinity", "1e400")
    refused(http.post(QUERY, content=body), *words)


def test_valid_filters_of_every_kind(http):
    def q(**body):
        r = http.post(QUERY, json=body)
        assert r.status_code == 200, r.text
        return ids_of(r)

    assert q(filter_greater_dict={"size": 99.5}, limit=2, offset=1) == [3, 5]
    assert q(filter_equal_dict={"valid": True}, filter_less_equal_dict={"size": 30}) == [10, 11]
    assert q(filter_regex_dict={"pre_pt_root_id": f"^{int(A2)}$"}) == [1, 2, 3, 4, 5, 9, 10]
    assert q(filter_greater_dict={"created": "2000-01-01T00:00:00"}) == list(range(1, 13))
    assert q(filter_in_dict={"pre_pt_root_id": [str(int(A2))]}, filter_notin_dict={"size": [30, 40]}) == [
        1, 2, 3, 4, 5]
    assert q(limit=0) == [] and q(offset=10**30) == [] and q(limit=10**30) == list(range(1, 13))
    assert q(limit=3, offset=2) == [3, 4, 5] and q(offset=11) == [12]  # unfiltered: only the window is built


def test_bad_live_query_timestamps(http):
    for ts in ("garbage", "NaT", "", 1e300, 12, ["2025-01-01"], "99999-01-01"):
        refused(http.post(LIVE, json={"table": "synapses_v2", "timestamp": ts}), "timestamp")
    refused(http.post(LIVE, json={"timestamp": "2025-01-01"}), "table")
    refused(http.post(LIVE, json={"table": "synapses_v2", "join_tables": [["a", "b"]]}), "join_tables")


# -- chunkedgraph parameters ------------------------------------------------------------------------
@pytest.mark.parametrize("ts", ["nan", "inf", "-inf", "1e300", "garbage", "", "1e10"])
def test_bad_epoch_timestamps(http, cg, ts):
    body = np.array([sv(1)], "<u8").tobytes()
    if ts == "":  # empty means "now", as caveclient never sends it
        assert http.post(cg + "/roots_binary", params={"timestamp": ts}, content=body).status_code == 200
        return
    refused(http.post(cg + "/roots_binary", params={"timestamp": ts}, content=body), "timestamp")
    refused(http.post(cg + "/is_latest_roots", params={"timestamp": ts}, json={"node_ids": [int(A2)]}),
            "timestamp")
    refused(http.post(cg + "/lineage_graph_multiple", params={"timestamp_past": ts},
                      json={"root_ids": [int(A2)]}), "timestamp_past")
    refused(http.get(f"{cg}/node/{int(sv(1))}/root", params={"timestamp": ts}), "timestamp")


@pytest.mark.parametrize("layer", ["0", "-1", "9", "99", "2.5", "x", "1" * 40])
def test_stop_layer_out_of_range(http, cg, layer):
    body = np.array([sv(1)], "<u8").tobytes()
    refused(http.post(cg + "/roots_binary", params={"stop_layer": layer}, content=body), "stop_layer")
    refused(http.get(f"{cg}/node/{int(A2)}/leaves", params={"stop_layer": layer}), "stop_layer")


def test_roots_binary_body_must_be_whole_ids(http, cg):
    refused(http.post(cg + "/roots_binary", content=b"\x01" * 13), "13 bytes", "8 bytes")


def test_roots_binary_repeats_cost_one_lookup_and_keep_order(http, cg):
    """16 MB of one repeated root (36 s and 13.8 GB before) is answered per distinct ID."""
    ids = np.array([A2, sv(9), 0, L2["b3"], B0], dtype="<u8")
    one = np.frombuffer(http.post(cg + "/roots_binary", content=ids.tobytes()).content, "<u8")
    assert list(one) == [int(A2), int(CD), 0, int(tiny.X), int(tiny.B2)]  # B0 split: its first chunk is in B2
    many = np.tile(ids, 2**21 // len(ids) + 1)[: 2**21]  # 16 MiB
    r = http.post(cg + "/roots_binary", content=many.tobytes())
    assert r.status_code == 200
    got = np.frombuffer(r.content, "<u8")
    assert len(got) == len(many) and (got == np.tile(one, len(many) // len(ids) + 1)[: len(many)]).all()


# -- malformed bodies -------------------------------------------------------------------------------
def test_malformed_json_bodies(http, cg):
    refused(http.post(QUERY, content=b'{"limit": "\xff\xfe"}'), "UTF-8")
    refused(http.post(cg + "/is_latest_roots", content=b"[" * 100_000 + b"]" * 100_000), "nested")
    refused(http.post(QUERY, content=b"{not json"), "not valid JSON")
    refused(http.post(QUERY, content=b'{"limit": NaN}'), "NaN")
    refused(http.post(QUERY, content=b"[1, 2]"), "JSON object")
    refused(http.post(QUERY, content=b'{"limit": ' + b"9" * 5000 + b"}"), "not valid JSON")


def test_invalid_utf8_in_urls(http, cg):
    refused(http.get(f"{cg}/node/%FF/root"), "node_id")
    refused(http.get(f"{cg}/node/{int(A2)}/root?timestamp=%FF%FE"), "timestamp")
    refused(http.get(f"{MAT}/versions?expired=%C3%28"), "expired")
    refused(http.get("/info/api/v2/datastack/full/%FF"), "datastack", status=404)


def test_unknown_names_are_404_or_400(http, cg):
    assert http.get("/info/api/v2/datastack/full/other").status_code == 404
    refused(http.post("/segmentation/api/v1/table/nope/roots_binary", content=b""), "nope", status=404)
    refused(http.post(f"{MAT}/version/99/table/synapses_v2/query", json={}), "version 99")
    refused(http.post(f"{MAT}/version/{2**70}/table/synapses_v2/query", json={}), "version")
    refused(http.post(f"{MAT}/version/abc/table/synapses_v2/query", json={}), "version")
    refused(http.get(f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/3/{int(A2)}/png"), "png")
    refused(http.post("/l2cache/api/v1/table/" + cg.rsplit("/", 1)[1] + "/attributes",
                      params={"attribute_names": "colour"}, json={"l2_ids": []}), "colour")


# -- body cap ---------------------------------------------------------------------------------------
def test_body_cap_is_configurable_and_answers_413(tiny_path, cg):
    small = create_app(SnapshotSource(tiny_path), token=TOKEN, max_body_bytes=64)
    with TestClient(small, raise_server_exceptions=False, headers=AUTH) as client:
        ok = np.array([sv(1)] * 8, "<u8").tobytes()  # exactly 64 bytes
        assert client.post(cg + "/roots_binary", content=ok).status_code == 200
        refused(client.post(cg + "/roots_binary", content=ok + b"\0" * 8), "64 bytes", status=413)
        chunks = iter([b"\0" * 40, b"\0" * 40])  # no Content-Length: counted while it arrives
        refused(client.post(cg + "/roots_binary", content=chunks), "64 bytes", status=413)
        # without the token nothing is read at all
        assert client.post(cg + "/roots_binary", content=ok + ok, headers={"Authorization": ""}).status_code \
            == 401
    with pytest.raises(ValueError, match="max_body_bytes"):
        create_app(SnapshotSource(tiny_path), max_body_bytes=0)


def test_body_cap_over_real_http(tiny_path, isolated_home):
    with serve_in_thread(tiny_path, token=TOKEN, max_body_bytes=1000) as server:
        pcg = server.app.state.backend.chunkedgraph.pcg_table
        url = f"{server.url}/segmentation/api/v1/table/{pcg}/roots_binary"
        r = requests.post(url, data=b"\0" * 4096, headers=AUTH, timeout=20)
        assert r.status_code == 413 and "1000 bytes" in r.json()["message"]
        r = requests.post(url, data=iter([b"\0" * 800, b"\0" * 800]), headers=AUTH, timeout=20)
        assert r.status_code == 413
        r = requests.post(url, data=np.array([sv(1)], "<u8").tobytes(), headers=AUTH, timeout=20)
        assert list(np.frombuffer(r.content, "<u8")) == [int(A2)]


# -- properties: nothing a client sends gives a 500 ----------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
KEYS = ["filter_in_dict", "filter_notin_dict", "filter_equal_dict", "filter_greater_dict",
        "filter_less_dict", "filter_spatial_dict", "filter_regex_dict", "select_columns", "limit",
        "offset", "desired_resolution", "timestamp", "table", "node_ids", "root_ids", "l2_ids"]
COLUMNS = ["id", "size", "pre_pt_root_id", "post_pt_root_id", "created", "valid", "superceded_id",
           "pre_pt_position", "pre_pt_position_x", "cell_type", "pt_root_id", "synapses_v2"]
VALUE = st.one_of(JSON, st.dictionaries(st.sampled_from(COLUMNS), JSON, max_size=3),
                  st.dictionaries(st.just("synapses_v2"), st.dictionaries(st.sampled_from(COLUMNS), JSON,
                                                                          max_size=2), max_size=1))
BODY = st.dictionaries(st.sampled_from(KEYS), VALUE, max_size=4)


def body_routes(cg: str) -> list[tuple[str, str]]:
    l2 = "/l2cache/api/v1/table/" + cg.rsplit("/", 1)[1] + "/attributes"
    return [("POST", QUERY), ("POST", f"{MAT}/version/3/table/cell_annotations_v1/query"),
            ("POST", f"{MAT}/version/3/table/nuclei_v1/query"), ("POST", LIVE),
            ("POST", cg + "/is_latest_roots"), ("POST", cg + "/root_timestamps"),
            ("POST", cg + "/lineage_graph_multiple"), ("GET", cg + "/past_id_mapping"),
            ("GET", cg + "/valid_nodes"), ("POST", l2)]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.integers(0, 9), body=BODY)
def test_any_json_body_to_any_route_is_never_a_500(http, cg, route, body):
    method, path = body_routes(cg)[route]
    r = http.request(method, path, content=json.dumps(body))
    assert r.status_code in (200, 400), (path, body, r.status_code, r.text)
    if r.status_code == 400:
        assert r.json()["message"]


PARAMS = ["timestamp", "timestamp_past", "timestamp_future", "stop_layer", "latest", "expired",
          "start_timestamp", "end_timestamp", "attribute_names", "bounds"]
QUERY_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(
    ["nan", "inf", "1e300", "-1", "0", "7", "8", "1700000000", "True", "false", "2.5", "9" * 40]))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.integers(0, 14), params=st.dictionaries(st.sampled_from(PARAMS), QUERY_TEXT, max_size=3),
       node=st.one_of(st.sampled_from([str(int(A2)), str(int(sv(1))), "0", str(2**64)]), st.text(max_size=8)))
def test_any_query_string_to_any_route_is_never_a_500(http, cg, route, params, node):
    from urllib.parse import quote

    node = quote(node, safe="") or "0"
    get_routes = [f"{cg}/node/{node}/root", f"{cg}/node/{node}/leaves", f"{cg}/node/{node}/lvl2_graph",
                  f"{MAT}/versions", f"{MAT}/metadata", f"{MAT}/version/3/tables",
                  f"/skeletoncache/api/v1/{DS}/precomputed/skeleton/3/{node}/flatdict",
                  f"/skeletoncache/api/v1/{DS}/async/get_skeleton/3/{node}/swccompressed",
                  f"/info/api/v2/datastack/full/{DS}"]
    if route < len(get_routes):
        r = http.get(get_routes[route], params=params)
    else:
        method, path = body_routes(cg)[route - len(get_routes) + 4]
        body = {"node_ids": [int(A2)], "root_ids": [int(A2)], "l2_ids": [int(L2["a1"])]}
        r = http.request(method, path, params=params, content=json.dumps(body))
    # a node segment holding "/" may name no route at all: 404, as JSON too
    assert r.status_code in (200, 400, 404), (route, params, node, r.status_code, r.text)
    if r.status_code != 200:
        assert r.json()["message"]


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=200))
def test_any_bytes_as_a_body_are_never_a_500(http, cg, body):
    for method, path in [("POST", cg + "/roots_binary"), *body_routes(cg)[:2]]:
        r = http.request(method, path, content=body)
        assert r.status_code in (200, 400), (path, body, r.status_code, r.text)


# -- the token ------------------------------------------------------------------------------------
def _serve(args: list[str], env_token: str | None) -> tuple[int, str, str]:
    """Run ``napari-crant serve`` with ``args``; the status code of a request carrying TOKEN and the
    server's stdout and stderr."""
    port = free_port()
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    env.pop(ENV_TOKEN, None)
    if env_token is not None:
        env[ENV_TOKEN] = env_token
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from napari_crant.cli import main; sys.exit(main())",
         "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    url = f"http://127.0.0.1:{port}/info/version"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        status = requests.get(url, headers=AUTH, timeout=5).status_code if proc.poll() is None else -1
        assert proc.poll() is not None or requests.get(url, timeout=5).status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    return status, out, err


def test_serve_takes_the_token_from_a_file_or_the_environment(tiny_path, tmp_path, isolated_home):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    status, out, err = _serve(["--dataset", tiny_path, "--token-file", str(token_file)], None)
    assert status == 200 and "warning" not in err and TOKEN not in out + err
    status, out, err = _serve(["--dataset", tiny_path], TOKEN)
    assert status == 200 and "warning" not in err and TOKEN not in out + err
    # still accepted on the command line, with a warning that does not repeat it
    status, out, err = _serve(["--dataset", tiny_path, "--token", TOKEN], None)
    assert status == 200 and "--token shows the token" in err and ENV_TOKEN in err and TOKEN not in out + err


def test_serve_refuses_bad_token_sources(tiny_path, tmp_path, capsys):
    from napari_crant.cli import main

    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert main(["serve", "--dataset", tiny_path, "--token-file", str(empty)]) == 2
    assert "is empty" in capsys.readouterr().err
    assert main(["serve", "--dataset", tiny_path, "--token-file", str(tmp_path / "missing")]) == 2
    assert "cannot read the token file" in capsys.readouterr().err
    assert main(["serve", "--dataset", tiny_path, "--token-file", str(empty), "--token", TOKEN]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["serve", "--dataset", tiny_path, "--max-body", "0"]) == 2
    assert "--max-body" in capsys.readouterr().err
