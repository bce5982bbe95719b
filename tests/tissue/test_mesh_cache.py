"""Root meshes over CAVE are kept in the persistent cache: a second look makes no request, after
a restart of the cache (memory dropped: read from disk) too, and offline; a root without a mesh
is not kept. Requests are counted by the local server itself."""

from __future__ import annotations

import numpy as np
import pytest
from mesh_data import edited_root
from tissue_data import snapshot
from tissue_server import TOKEN, isolated_home

import napari_crant as nc
from napari_crant import TissueUnavailable
from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.cave import CaveConnectionError, CaveDatasetConfig, CaveSource
from napari_crant.sources.cave.cache import close_caches, open_cache
from napari_crant.sources.snapshot import SnapshotSource


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with isolated_home(tmp_path_factory.mktemp("home")):
        yield


@pytest.fixture(scope="module")
def source():
    return SnapshotSource(snapshot())


def cave(url: str, datastack: str) -> CaveSource:
    cfg = CaveDatasetConfig(name="mesh-cache", server_address=url, datastack=datastack, timeout=10.0,
                            retries=0)
    return CaveSource(cfg, auth_token=TOKEN)


def requests_during(server, fn):
    log = server.app.state.requests
    log.reset()
    result = fn()
    return result, log.count


def test_root_mesh_second_look_restart_and_offline(home, source):
    root, _ = edited_root(source)
    version = int(source.versions()["version"].max())

    def look(url: str, datastack: str):
        return nc.get_mesh(root, materialization=version, dataset=cave(url, datastack))

    with serve_in_thread(source, token=TOKEN) as server:
        url, datastack = server.url, server.datastack
        first, n_first = requests_during(server, lambda: look(url, datastack))
        second, n_second = requests_during(server, lambda: look(url, datastack))
        assert n_first > 0 and n_second == 0, server.app.state.requests.paths()
        np.testing.assert_array_equal(second.vertices, first.vertices)
        np.testing.assert_array_equal(second.faces, first.faces)
        # what a caller does to its mesh does not reach the cache
        second.trimesh.vertices[:] = 0.0
        close_caches()  # a restart: nothing in memory, read from disk
        again, n_again = requests_during(server, lambda: look(url, datastack))
        assert n_again == 0, server.app.state.requests.paths()
        assert any(k.endswith(f"|root_mesh|{root}|lod0") for k in open_cache().list_keys())
    np.testing.assert_array_equal(again.vertices, first.vertices)
    np.testing.assert_array_equal(again.faces, first.faces)
    assert again.id == root and root > 10**17
    close_caches()
    offline = look(url, datastack)  # same address, server stopped
    np.testing.assert_array_equal(offline.faces, first.faces)
    other = next(int(r) for r in source.roots_table()["root_id"].to_numpy(np.uint64) if int(r) != root)
    with pytest.raises(CaveConnectionError, match="cannot connect"):
        cave(url, datastack).root_mesh(other, None)


def test_a_missing_mesh_is_not_kept(home, source):
    unknown = 576460752303423487  # an 18-digit ID that is no root of the demo
    with serve_in_thread(source, token=TOKEN) as server:
        for _ in range(2):
            _, n = requests_during(server, lambda: _expect_missing(server, unknown))
            assert n > 0
    assert not any("|root_mesh|" in k for k in open_cache().list_keys())


def _expect_missing(server, root: int) -> None:
    with pytest.raises(TissueUnavailable, match=str(root)):
        cave(server.url, server.datastack).root_mesh(root, None)
