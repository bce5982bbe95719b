"""The demo snapshot served by the local CAVE server, for the tissue tests (no real token, no proxy).

(Not a conftest.py: the Qt tests import their own ``conftest`` by name.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.snapshot import SnapshotSource

#: cloud-volume accepts only hex or base64 tokens (a made-up one).
TOKEN = "5f3c9a0e7d21b4c68e0f1a2b3c4d5e6f"


@contextlib.contextmanager
def isolated_home(home: Path) -> Iterator[None]:
    """HOME in ``home`` (no real token is read) and no proxy for loopback."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            mp.delenv(var, raising=False)
        yield


@contextlib.contextmanager
def served(source: SnapshotSource) -> Iterator[object]:
    """The local server over ``source``, with :data:`TOKEN`."""
    with serve_in_thread(source, token=TOKEN) as srv:
        yield srv
