"""Network faults give clear errors, never hangs or partial results; tokens never leak."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest
from cave_helpers import TOKEN, cave_source
from fastapi import Request
from fastapi.responses import JSONResponse, Response

import napari_crant as nc
from napari_crant.server.app import create_app
from napari_crant.server.runner import free_port, serve_in_thread
from napari_crant.sources.cave import (
    CaveAuthError,
    CaveConnectionError,
    CaveDatasetConfig,
    CaveServerError,
    CaveSource,
)
from napari_crant.sources.snapshot import SnapshotSource
from tiny import A2

QUERY = "/query"


class Faults:
    """Switchable misbehaviour for requests whose path contains ``match``."""

    def __init__(self):
        self.mode: str | None = None
        self.match = QUERY
        self.remaining = 10**9  # how many matching requests misbehave
        self.hits = 0  # matching requests that misbehaved
        self.seen = 0  # matching requests received
        self.delay = 0.0
        self.in_flight = 0  # "slow" requests being answered now
        self.most_in_flight = 0  # the most at once


class PartialResponse(Response):
    """Headers announcing a long body, half of it, then the connection closes (a dropped answer)."""

    async def __call__(self, scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"data.arrow"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b"\xff" * 2048, "more_body": True})
        # returning without finishing the body: uvicorn closes the connection


@pytest.fixture(scope="module")
def faulty(isolated_home, tiny_path):
    faults = Faults()
    app = create_app(SnapshotSource(tiny_path), token=TOKEN)

    @app.middleware("http")
    async def misbehave(request: Request, call_next):
        if faults.match in request.url.path:
            faults.seen += 1
        if faults.mode and faults.match in request.url.path and faults.remaining > 0:
            faults.remaining -= 1
            faults.hits += 1
            if faults.mode == "500":
                return JSONResponse({"message": "database exploded"}, status_code=500)
            if faults.mode == "503":
                return JSONResponse({"message": "busy"}, status_code=503)
            if faults.mode == "slow":
                faults.in_flight += 1
                faults.most_in_flight = max(faults.most_in_flight, faults.in_flight)
                try:
                    await asyncio.sleep(faults.delay)
                finally:
                    faults.in_flight -= 1
            if faults.mode == "garbage":
                return Response(b"\x00not arrow at all", media_type="data.arrow")
            if faults.mode == "html":
                return Response(b"<html>proxy error</html>", media_type="text/html")
            if faults.mode == "notice":
                response = await call_next(request)
                response.headers["Warning"] = "Table Owner Notice on synapses_v2: please use synapses_v3"
                return response
            if faults.mode == "partial":
                return PartialResponse()
            if faults.mode == "short":
                return Response(b"\x00" * 8, media_type="application/octet-stream")
        return await call_next(request)

    with serve_in_thread(None, app=app) as server:
        server.faults = faults
        yield server


@pytest.fixture
def faults(faulty):
    f = faulty.faults
    f.mode, f.match, f.remaining, f.hits, f.seen, f.delay = None, QUERY, 10**9, 0, 0, 0.0
    f.most_in_flight = 0
    yield f
    f.mode = None


def test_server_down(isolated_home):
    port = free_port()
    cfg = CaveDatasetConfig("down", f"http://127.0.0.1:{port}", "kronauer_ant", timeout=5, retries=1)
    src = CaveSource(cfg, auth_token=TOKEN)
    t0 = time.monotonic()
    with pytest.raises(CaveConnectionError, match="cannot connect"):
        src.versions()
    assert time.monotonic() - t0 < 30


def test_http_500_is_retried_then_reported(faulty, faults):
    src = cave_source(faulty, retries=2)
    src.versions()
    faults.mode = "500"
    with pytest.raises(CaveServerError, match="HTTP 500") as e:
        nc.get_connectivity(A2, dataset=src)
    assert "database exploded" in str(e.value)
    assert faults.hits == 3  # first try + 2 retries


def test_transient_500_recovers(faulty, faults, tiny_path):
    src = cave_source(faulty, retries=2)
    faults.mode, faults.remaining = "500", 1
    got = nc.get_connectivity(A2, dataset=src)
    pd.testing.assert_frame_equal(got, nc.get_connectivity(A2, dataset=tiny_path))
    assert faults.hits == 1


def test_503_is_retried_once_by_one_policy(faulty, faults, tiny_path, monkeypatch):
    """caveclient's own retries are off: a 503 is retried by napari-crant's policy alone.

    (The persistent cache is off: the same pinned-version query must reach the server again.)
    """
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_MB", "0")
    src = cave_source(faulty, retries=2)
    at = nc.materialization.resolve_materialization(src, 3)
    expected = SnapshotSource(tiny_path).synapses(np.array([A2], np.uint64), None, at)
    src.synapses(np.array([A2], np.uint64), None, at)  # learns that the server marks truncation
    faults.seen = 0
    faults.mode, faults.remaining = "503", 2
    got = src.synapses(np.array([A2], np.uint64), None, at)
    pd.testing.assert_frame_equal(got, expected)
    assert faults.hits == 2 and faults.seen == 3  # one query: 2 failures, then the answer
    src = cave_source(faulty, retries=0)
    src.versions()
    faults.mode, faults.remaining, faults.hits, faults.seen = "503", 10**9, 0, 0
    with pytest.raises(CaveServerError, match=r"HTTP 503 .*tried once"):
        nc.get_connectivity(A2, dataset=src)
    assert faults.seen == 1


def test_answer_dropped_mid_body_is_retried_then_reported(faulty, faults):
    src = cave_source(faulty, retries=2)
    src.versions()
    at = nc.materialization.resolve_materialization(src, 3)
    faults.mode = "partial"
    with pytest.raises(CaveConnectionError) as e:
        src.synapses(np.array([A2], np.uint64), None, at)
    msg = str(e.value)
    assert "dropped before the answer" in msg and "tried 3 times" in msg
    assert "cannot connect" not in msg and "local" in msg and "try again later" in msg
    assert not e.value.timed_out
    assert faults.hits == faults.seen == 3  # first try + 2 retries, nothing from caveclient


def test_answer_dropped_once_recovers(faulty, faults, tiny_path, monkeypatch):
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_MB", "0")  # the query must reach the server again
    src = cave_source(faulty, retries=2)
    at = nc.materialization.resolve_materialization(src, 3)
    expected = SnapshotSource(tiny_path).synapses(np.array([A2], np.uint64), None, at)
    src.synapses(np.array([A2], np.uint64), None, at)  # learns that the server marks truncation
    faults.seen = 0
    faults.mode, faults.remaining = "partial", 1
    got = src.synapses(np.array([A2], np.uint64), None, at)
    pd.testing.assert_frame_equal(got, expected)
    assert faults.hits == 1 and faults.seen == 2


def test_slow_response_times_out(faulty, faults):
    src = cave_source(faulty, timeout=0.5, retries=0)
    src.versions()
    faults.mode, faults.delay = "slow", 5.0
    t0 = time.monotonic()
    with pytest.raises(CaveConnectionError, match="timed out") as e:
        nc.get_connectivity(A2, dataset=src)
    assert time.monotonic() - t0 < 10
    assert "sent no answer within 0.5 s" in str(e.value) and "timeout=" in str(e.value)
    assert faults.seen == 1  # a slow server is not asked again


@pytest.mark.parametrize("mode", ["garbage", "html"])
def test_malformed_response(faulty, faults, mode):
    src = cave_source(faulty, retries=0)
    src.versions()
    faults.mode = mode
    with pytest.raises(CaveServerError, match="unreadable or unexpected answer"):
        nc.get_connectivity(A2, dataset=src)


def test_malformed_json(faulty, faults):
    src = cave_source(faulty, retries=0)
    src.versions()
    faults.mode, faults.match = "html", "/valid_nodes"
    with pytest.raises(CaveServerError, match="unreadable or unexpected answer"):
        src.root_status(np.array([A2], np.uint64), nc.materialization.resolve_materialization(src, "live"))


def test_short_binary_answer(faulty, faults):
    """A roots_binary answer with fewer IDs than asked for is an error, not a misaligned result."""
    from tiny import sv

    src = cave_source(faulty, retries=0)
    src.versions()
    faults.mode, faults.match = "short", "/roots_binary"
    at = nc.materialization.resolve_materialization(src, "live")
    with pytest.raises(CaveServerError, match="got 1 answers"):
        src.roots_of_supervoxels(np.array([sv(1), sv(5)], np.uint64), at)


def test_hang_while_connecting(faulty, faults):
    """Requests caveclient makes before napari-crant can set timeouts are bounded by a deadline."""
    faults.mode, faults.match, faults.delay = "slow", "/info/", 12.0
    src = cave_source(faulty, timeout=0.5, retries=0)
    t0 = time.monotonic()
    with pytest.raises(CaveConnectionError, match=r"no answer|timed out"):
        src.versions()
    assert time.monotonic() - t0 < 11


def test_wrong_token(faulty):
    secret = "WRONG-secret-token-value-123"
    src = cave_source(faulty, token=secret)
    with pytest.raises(CaveAuthError) as e:
        src.versions()
    msg = str(e.value)
    assert "401" in msg and "get_new_token" in msg and "save_token" in msg and "rejected" in msg
    assert secret not in msg
    assert TOKEN not in msg
    assert secret not in repr(e.value)


def test_saved_token_rejected(faulty, isolated_home, monkeypatch, tmp_path):
    """A token saved with caveclient's own mechanism is used, and when rejected it is not shown."""
    from caveclient.auth import AuthClient

    monkeypatch.setenv("HOME", str(tmp_path))
    saved = "saved-but-wrong-token-987"
    AuthClient(server_address=faulty.url).save_token(token=saved, overwrite=True)
    src = cave_source(faulty, token=None)
    with pytest.raises(CaveAuthError, match="the token was rejected") as e:
        src.versions()
    assert saved not in str(e.value)
    monkeypatch.setenv("HOME", str(isolated_home))


def test_missing_token(faulty, isolated_home):
    src = cave_source(faulty, token=None)  # HOME is empty: caveclient finds no saved token
    with pytest.raises(CaveAuthError, match="no token was found"):
        src.versions()


def test_concurrent_requests(faulty, faults, tiny_path):
    """Slow requests are served in parallel, and parallel queries all come back right."""
    from concurrent.futures import ThreadPoolExecutor

    src = cave_source(faulty)
    expected = nc.get_connectivity(A2, dataset=tiny_path)
    src.versions()
    faults.mode, faults.delay = "slow", 1.0
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: src.synapses(np.array([A2], np.uint64), None,
                                                       nc.materialization.resolve_materialization(src, 3)),
                                range(6)))
    # six calls of 1-s requests, all in flight at once (not one after the other); counted by the server,
    # not by the clock, which a loaded machine stretches
    assert faults.most_in_flight >= 6  # (a call may send more than one query)
    for r in results:
        pd.testing.assert_frame_equal(r, results[0])
    faults.mode = None
    pd.testing.assert_frame_equal(nc.get_connectivity(A2, dataset=src), expected)


def test_server_notice_shown_once_with_the_dataset(faulty, faults, tiny_path):
    """A note in the Warning header (not a truncation) reaches the user once, naming the dataset."""
    import warnings

    from napari_crant.sources.cave import CaveServerNotice

    src = cave_source(faulty)
    src.versions()
    faults.mode = "notice"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = nc.get_connectivity(A2, dataset=src)
        nc.get_connectivity(A2, dataset=src)
    notes = [w for w in caught if issubclass(w.category, CaveServerNotice)]
    assert len(notes) == 1
    assert "please use synapses_v3" in str(notes[0].message) and "local" in str(notes[0].message)
    pd.testing.assert_frame_equal(got, nc.get_connectivity(A2, dataset=tiny_path))


def test_client_passed_in_follows_the_one_policy(faulty, faults):
    """A CAVEclient built with caveclient's default retries (3) is made to follow napari-crant's."""
    from caveclient import CAVEclient

    client = CAVEclient(faulty.datastack, server_address=faulty.url, auth_token=TOKEN,
                        write_server_cache=False)
    cfg = CaveDatasetConfig("passed", faulty.url, faulty.datastack, timeout=20, retries=1)
    src = CaveSource(cfg, auth_token=TOKEN, client=client)
    src.versions()
    faults.mode = "503"
    at = nc.materialization.resolve_materialization(src, 3)
    with pytest.raises(CaveServerError, match=r"HTTP 503 .*tried 2 times"):
        src.synapses(np.array([A2], np.uint64), None, at)
    assert faults.seen == 2
