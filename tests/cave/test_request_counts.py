"""Requests per public call, counted by the server: no request past the end of a complete answer.

The local server marks a capped answer with production's ``Warning`` header; an answer without
it is complete once the server is known to mark truncation, so each synapse query direction
costs exactly one request. A server whose answers lose the header (e.g. behind a proxy) is still
read completely, by checking past the end.
"""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import pytest
from cave_helpers import TOKEN, cave_source
from fastapi import Request

import napari_crant as nc
from napari_crant.materialization import resolve_materialization
from napari_crant.queries.update import clear_update_cache
from napari_crant.server.app import create_app
from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.snapshot import SnapshotSource

CAP = 7
#: Requests of resolving one set of IDs alive at the query's moment.
RESOLVE = {"valid_nodes": 1, "root_timestamps": 1, "is_latest_roots": 1}


@pytest.fixture(autouse=True)
def _no_persistent_cache(monkeypatch):
    """These tests count what each call sends over the wire: answers kept on disk from an
    earlier call would hide requests (the cache has its own tests in test_persistent_cache.py)."""
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_MB", "0")


@pytest.fixture(scope="module")
def counting(isolated_home, demo_path):
    app = create_app(SnapshotSource(demo_path), token=TOKEN)
    app.state.counts = collections.Counter()
    app.state.hide_signal = False

    @app.middleware("http")
    async def count(request: Request, call_next):
        app.state.counts[request.url.path.rsplit("/", 1)[-1]] += 1
        response = await call_next(request)
        if app.state.hide_signal and "warning" in response.headers:
            del response.headers["warning"]
        return response

    with serve_in_thread(None, app=app) as server:
        yield server


@pytest.fixture
def server(counting):
    counting.app.state.row_cap, counting.app.state.hide_signal = None, False
    yield counting
    counting.app.state.row_cap, counting.app.state.hide_signal = None, False


@pytest.fixture(scope="module")
def pair(demo_path):
    """Two alive neurons that synapse onto each other, and the snapshot to compare with."""
    snap = SnapshotSource(demo_path)
    at = resolve_materialization(snap, "latest")
    roots = snap.roots_table()
    alive = roots[roots["expired"].isna()]["root_id"].to_numpy(np.uint64)
    syn = snap.synapses(alive, alive, at, positions=False)
    pairs = syn.groupby(["pre_pt_root_id", "post_pt_root_id"]).size().sort_values(ascending=False)
    a, b = pairs.index[0]
    return int(a), int(b)


def counted(server, call) -> dict[str, int]:
    clear_update_cache()
    server.app.state.counts.clear()
    call()
    return dict(server.app.state.counts)


def test_first_answer_proves_the_server_marks_truncation(server, demo_path, pair):
    """Once per source: the answer's last row alone comes back marked as limited."""
    a, _ = pair
    src = cave_source(server, annotations=demo_path)
    src.versions()
    assert counted(server, lambda: nc.get_synapses(a, dataset=src))["query"] == 2
    assert src._cap.signals and src._cap.exact is None
    assert counted(server, lambda: nc.get_synapses(a, dataset=src))["query"] == 1


def test_requests_per_public_call(server, demo_path, pair):
    a, b = pair
    src = cave_source(server, annotations=demo_path)
    nc.get_synapses(a, dataset=src)  # builds the client and its services, reads versions
    skeleton = nc.get_l2_skeleton(a, dataset=src)
    two_sides = {k: 2 * v for k, v in RESOLVE.items()}
    assert counted(server, lambda: nc.get_synapses(a, dataset=src)) == {**RESOLVE, "query": 1}
    assert counted(server, lambda: nc.get_synapses(a, materialization="live", dataset=src)) == {
        **RESOLVE, "query": 1}
    assert counted(server, lambda: nc.get_synapses(a, b, dataset=src)) == {**two_sides, "query": 1}
    assert counted(server, lambda: nc.get_connectivity(a, dataset=src)) == {**RESOLVE, "query": 2}
    assert counted(server, lambda: nc.get_synapse_counts([a, b], dataset=src)) == {
        **RESOLVE, "query": 2}
    assert counted(server, lambda: nc.get_adjacency([a, b], [a, b], dataset=src)) == {
        **two_sides, "query": 1}
    assert counted(server, lambda: nc.get_l2_skeleton(a, dataset=src)) == {
        **RESOLVE, "leaves": 1, "attributes": 1, "lvl2_graph": 1}
    # attach: both directions in one query each, and the synapses' L2 chunks in one bulk call
    assert counted(server, lambda: nc.attach_synapses(skeleton, dataset=src)) == {
        **RESOLVE, "query": 2, "roots_binary": 1}


def test_capped_answers_cost_only_their_pages(server, demo_path, pair):
    """Capped at 7 rows: the first answer says so, then pages of 7 until one is short."""
    a, _ = pair
    server.app.state.row_cap = CAP
    snap = SnapshotSource(demo_path)
    src = cave_source(server, annotations=demo_path)
    at = resolve_materialization(snap, "latest")
    src.versions()
    root = np.array([a], np.uint64)
    expected = snap.synapses(root, None, at)
    n = len(expected)
    assert n > 5 * CAP
    server.app.state.counts.clear()
    pd.testing.assert_frame_equal(src.synapses(root, None, at), expected)
    assert server.app.state.counts["query"] == 1 + n // CAP  # a full last page: one empty page
    assert src._cap.exact == CAP and src._cap.signals


@pytest.mark.parametrize("mat", ["latest", "live"])
def test_server_without_the_signal_still_never_truncates(server, demo_path, pair, mat):
    """No Warning header: answers that could be capped are checked past their end."""
    a, b = pair
    server.app.state.row_cap, server.app.state.hide_signal = CAP, True
    snap = SnapshotSource(demo_path)
    src = cave_source(server, annotations=demo_path, id_batch=2)
    at = resolve_materialization(snap, mat)
    src.versions()
    ids = np.array(sorted({a, b}), np.uint64)
    expected = snap.synapses(ids, None, at)
    assert len(expected) > 5 * CAP
    pd.testing.assert_frame_equal(src.synapses(ids, None, at), expected)
    assert src._cap.exact == CAP and not src._cap.signals
