"""A server that silently truncates responses (like production CAVE) never yields partial results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cave_helpers import TOKEN, cave_source

import napari_crant as nc
from napari_crant.materialization import resolve_materialization
from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.snapshot import SnapshotSource

CAP = 7


@pytest.fixture(scope="module")
def capped(isolated_home, demo_path):
    with serve_in_thread(demo_path, token=TOKEN, row_cap=CAP) as server:
        yield server


@pytest.fixture(scope="module")
def neurons(demo_path):
    snap = SnapshotSource(demo_path)
    roots = snap.roots_table()
    return [int(x) for x in roots[roots["expired"].isna()]["root_id"].to_numpy(np.uint64)[:12]]


def test_server_truncates_like_cave(capped):
    from caveclient import CAVEclient

    client = CAVEclient(capped.datastack, server_address=capped.url, auth_token=TOKEN,
                        write_server_cache=False)
    df = client.materialize.query_table("synapses_v2", split_positions=True)
    assert len(df) == CAP  # silently capped: only the row count tells
    df = client.materialize.query_table("synapses_v2", split_positions=True, limit=3, offset=5)
    assert len(df) == 3


@pytest.mark.parametrize("known_cap", [None, CAP, 1000])
@pytest.mark.parametrize("mat", ["latest", 2, "live"])
def test_no_silent_truncation(capped, demo_path, neurons, known_cap, mat):
    """Unknown cap (detected), the right cap, and a wrong (too large) configured cap."""
    src = cave_source(capped, annotations=demo_path, row_cap=known_cap, id_batch=5)
    a = nc.get_synapses(neurons, materialization=mat, dataset=demo_path)
    b = nc.get_synapses(neurons, materialization=mat, dataset=src)
    assert len(a) > 20 * CAP
    pd.testing.assert_frame_equal(a, b)
    # an unknown or wrong cap was learnt from the answers; a right one was simply used
    assert src._cap.exact == (None if known_cap == CAP else CAP)


def test_single_neuron_paged(capped, demo_path, neurons):
    """One ID with many more synapses than the cap is paged with offset."""
    snap = SnapshotSource(demo_path)
    src = cave_source(capped, annotations=demo_path)
    at = resolve_materialization(snap, "latest")
    root = np.array([neurons[0]], np.uint64)
    a = snap.synapses(root, None, at)
    b = src.synapses(root, None, at)
    assert len(a) > 5 * CAP
    pd.testing.assert_frame_equal(a, b)


def test_both_sides_and_many_ids(capped, demo_path, neurons):
    snap = SnapshotSource(demo_path)
    src = cave_source(capped, annotations=demo_path, id_batch=4)
    at = resolve_materialization(snap, "live")
    ids = np.array(neurons, np.uint64)
    pd.testing.assert_frame_equal(snap.synapses(ids, ids, at), src.synapses(ids, ids, at))
    pd.testing.assert_frame_equal(snap.synapses(None, ids, at), src.synapses(None, ids, at))


def test_cap_change_while_running(capped, demo_path, neurons, monkeypatch):
    """A server whose cap drops below what the client learnt is caught once the knowledge is reset.

    (Learnt cap knowledge is assumed stable and expires after ``CAP_MEMORY_S``.) The persistent
    cache is off: the same pinned-version query must reach the server twice.
    """
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_MB", "0")
    snap = SnapshotSource(demo_path)
    src = cave_source(capped, annotations=demo_path)
    at = resolve_materialization(snap, "latest")
    ids = np.array(neurons[:3], np.uint64)
    pd.testing.assert_frame_equal(snap.synapses(ids, None, at), src.synapses(ids, None, at))
    capped.app.state.row_cap = 4
    try:
        src.reset_row_cap()
        pd.testing.assert_frame_equal(snap.synapses(ids, None, at), src.synapses(ids, None, at))
        assert src._cap.exact == 4
    finally:
        capped.app.state.row_cap = CAP
