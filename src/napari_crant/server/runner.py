"""Run the local CAVE server: in a background thread (tests, notebooks) or in the foreground."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from napari_crant.server.app import create_app
from napari_crant.server.http import DEFAULT_MAX_BODY_BYTES
from napari_crant.server.tls import TlsFiles
from napari_crant.sources.snapshot import SnapshotSource


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalCaveServer:
    """A running local CAVE server (see :func:`serve_in_thread`).

    Attributes
    ----------
    url
        Base URL, e.g. ``http://127.0.0.1:53219`` (``https://`` when served with TLS); pass it as
        ``server_address`` to CAVEclient.
    datastack
        The datastack name it answers for.
    app
        The FastAPI application (``app.state.row_cap`` may be changed while running).
    """

    def __init__(self, app: FastAPI, host: str, port: int, datastack: str, tls: TlsFiles | None = None):
        self.app = app
        self.host = host
        self.port = port
        self.datastack = datastack
        self.url = f"{'https' if tls else 'http'}://{host}:{port}"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2,
                                **(tls.uvicorn_options() if tls else {}))
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"local-cave-{port}", daemon=True)

    def start(self, timeout: float = 20.0) -> LocalCaveServer:
        """Start serving in a daemon thread and wait until it accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"local CAVE server on {self.url} failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"local CAVE server on {self.url} did not start within {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> LocalCaveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve_in_thread(
    dataset: SnapshotSource | str | os.PathLike,
    datastack: str = "kronauer_ant",
    token: str | None = None,
    row_cap: int | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    app: FastAPI | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    latency_ms: float = 0.0,
    tls: TlsFiles | None = None,
) -> Iterator[LocalCaveServer]:
    """Serve a snapshot over the CAVE API in a background thread for the ``with`` block.

    Parameters
    ----------
    dataset
        A :class:`~napari_crant.sources.snapshot.SnapshotSource` or a snapshot directory.
    datastack, token, row_cap, max_body_bytes, latency_ms
        See :func:`~napari_crant.server.app.create_app`.
    host
        Interface to bind (loopback by default).
    port
        Port; a free one by default.
    app
        A prebuilt application (e.g. with extra middleware); ``dataset`` etc. are then ignored.
    tls
        Serve HTTPS with this certificate and key (checked first; see
        :mod:`napari_crant.server.tls`); the datastack info then names
        ``graphene://middleauth+https://...`` as production does. Default: plain HTTP.

    Yields
    ------
    LocalCaveServer
    """
    if tls is not None:
        tls.check()
    port = port or free_port(host)
    if app is None:
        source = dataset if isinstance(dataset, SnapshotSource) else SnapshotSource(Path(dataset))
        app = create_app(source, datastack=datastack, token=token, row_cap=row_cap,
                         max_body_bytes=max_body_bytes, latency_ms=latency_ms)
    server = LocalCaveServer(app, host, port, datastack, tls).start()
    try:
        yield server
    finally:
        server.stop()
