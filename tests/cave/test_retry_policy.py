"""One retry policy: which failures are retried, how often, within which deadline, and what is said.

Real sockets on 127.0.0.1: a closed port (refused), a server that resets or closes every
connection after reading the request (dropped), one that never answers (slow). Requests are
counted on the server side; caveclient's own retries are off, so each attempt is one request.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

import pytest
from cave_helpers import TOKEN

from napari_crant.server.runner import free_port
from napari_crant.sources.cave import CaveConnectionError, CaveDatasetConfig, CaveSource
from napari_crant.sources.cave.failures import DROPPED, REFUSED, TIMEOUT, UNREACHABLE, classify


class RawServer:
    """Accepts connections, reads one request head, then misbehaves as ``mode`` says."""

    def __init__(self, mode: str):
        self.mode = mode
        self.paths: list[str] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self._open: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                head += chunk
            self.paths.append(head.split(b" ")[1].decode() if head.count(b" ") else "?")
            if self.mode == "reset":  # RST instead of FIN
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            elif self.mode == "close":
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            else:  # "slow": keep the connection open, never answer
                self._open.append(conn)

    def close(self) -> None:
        self._sock.close()
        for c in self._open:
            with contextlib.suppress(OSError):
                c.close()


@pytest.fixture
def raw_server(isolated_home):
    servers: list[RawServer] = []

    def make(mode: str) -> RawServer:
        servers.append(RawServer(mode))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def source(url: str, **options) -> CaveSource:
    return CaveSource(CaveDatasetConfig("flaky", url, "kronauer_ant", **options), auth_token=TOKEN)


@pytest.mark.parametrize("mode", ["reset", "close"])
def test_dropped_connection_retried_then_reported(raw_server, mode):
    server = raw_server(mode)
    t0 = time.monotonic()
    with pytest.raises(CaveConnectionError) as e:
        source(server.url, timeout=5, retries=2).versions()
    msg = str(e.value)
    assert "dropped before the answer" in msg and "tried 3 times" in msg, msg
    assert "cannot connect" not in msg and "flaky" in msg and server.url in msg
    assert not e.value.timed_out
    assert len(server.paths) == 3  # 1 + 2 retries: caveclient adds none
    assert 1.5 <= time.monotonic() - t0 < 10  # backoff 0.5 s then 1 s


def test_no_retries_means_one_request(raw_server):
    server = raw_server("reset")
    with pytest.raises(CaveConnectionError, match="tried once"):
        source(server.url, timeout=5, retries=0).versions()
    assert len(server.paths) == 1


def test_refused_is_not_a_dropped_answer(isolated_home):
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(CaveConnectionError) as e:
        source(f"http://127.0.0.1:{port}", timeout=5, retries=2).versions()
    msg = str(e.value)
    assert "cannot connect" in msg and "refused" in msg and "tried 3 times" in msg
    assert "check the address of dataset 'flaky'" in msg and "dropped" not in msg
    assert 1.5 <= time.monotonic() - t0 < 10


def test_total_deadline_stops_retries(raw_server):
    """Many retries allowed, but the backoff would pass the deadline: stop and say so."""
    server = raw_server("reset")
    t0 = time.monotonic()
    with pytest.raises(CaveConnectionError, match="tried 3 times"):
        source(server.url, timeout=5, retries=10, deadline=2.0).versions()
    # attempts at 0 s, 0.5 s, 1.5 s; the next would start at 3.5 s > 2 s
    assert len(server.paths) == 3
    assert time.monotonic() - t0 < 2.5


def test_silent_server_hits_the_deadline_once(raw_server):
    """A server that never answers is not retried: one request, ended by the deadline."""
    server = raw_server("slow")
    t0 = time.monotonic()
    with pytest.raises(CaveConnectionError) as e:
        source(server.url, timeout=0.5, retries=3, deadline=2.0).versions()
    assert "within the deadline of 2 s" in str(e.value) and "deadline=" in str(e.value)
    assert e.value.timed_out
    assert 2.0 <= time.monotonic() - t0 < 4
    assert len(server.paths) == 1


def test_classify_real_exceptions(raw_server):
    """The classification of what requests actually raises against real sockets."""
    import requests

    def failure_of(url: str, timeout: float = 5):
        try:
            requests.get(url + "/x", timeout=timeout)
        except requests.RequestException as exc:
            return classify(exc).kind
        raise AssertionError("no failure")

    assert failure_of(f"http://127.0.0.1:{free_port()}") == REFUSED
    assert failure_of(raw_server("reset").url) == DROPPED
    assert failure_of(raw_server("close").url) == DROPPED
    assert failure_of(raw_server("slow").url, timeout=0.3) == TIMEOUT
    assert failure_of("http://name-that-does-not-exist.invalid") == UNREACHABLE
