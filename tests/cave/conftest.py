"""Fixtures for the CAVE tests: a local CAVE server per module, isolated from any real token.

Every client gets an explicit fake token and ``write_server_cache=False``; ``HOME`` points to a
temporary directory so ``~/.cloudvolume/secrets`` of the user is never read or written.
"""

from __future__ import annotations

import pytest
from cave_helpers import DEMO_NEURONS, DEMO_SEED, TOKEN

from napari_crant.server.runner import serve_in_thread


@pytest.fixture(scope="module")
def isolated_home(tmp_path_factory):
    """``HOME`` in a temporary directory and no proxy for loopback, for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("home")
        mp.setenv("HOME", str(home))
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            mp.delenv(var, raising=False)
        yield home


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory):
    from napari_crant.demo import make_demo

    return str(make_demo(tmp_path_factory.mktemp("demo") / "demo60", n_neurons=DEMO_NEURONS,
                         seed=DEMO_SEED, overwrite=True))


@pytest.fixture(scope="module")
def demo_server(isolated_home, demo_path):
    with serve_in_thread(demo_path, token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def tiny_server(isolated_home, tiny_path):
    with serve_in_thread(tiny_path, token=TOKEN) as server:
        yield server
