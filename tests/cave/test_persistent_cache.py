"""The persistent CAVE cache: a second look makes no request, after a restart and offline too.

Requests are counted by the local server itself (``app.state.requests``); every test has an
empty cache directory of its own (``tests/conftest.py``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cave_helpers import TOKEN, cave_source, unregister

import napari_crant as nc
from napari_crant.cli import main as cli_main
from napari_crant.server.app import create_app
from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.cave import CaveConnectionError, register_cave_dataset
from napari_crant.sources.cave.cache import (
    CacheWarning,
    PersistentCache,
    cache_location,
    close_caches,
    open_cache,
    server_label,
)
from napari_crant.sources.snapshot import SnapshotSource


@pytest.fixture(scope="module")
def demo_facts(demo_path):
    """(pinned version, three roots alive at it with partners) of the demo snapshot."""
    snap = SnapshotSource(demo_path)
    versions = snap.versions()
    version = int(versions[versions["valid"]]["version"].max())
    roots = snap.roots_table()
    alive = roots[roots["expired"].isna()]["root_id"].to_numpy(np.uint64)
    chosen = []
    for root in alive:
        if len(nc.get_connectivity(int(root), materialization=version, dataset=snap)) >= 3:
            chosen.append(int(root))
        if len(chosen) == 3:
            break
    assert len(chosen) == 3 and all(r > 10**17 for r in chosen)  # realistic 18-digit IDs
    return version, chosen


def requests_during(server, fn):
    """``(result of fn(), number of requests the server received meanwhile)``."""
    log = server.app.state.requests
    log.reset()
    result = fn()
    return result, log.count


def connectivity(source, root: int, version) -> pd.DataFrame:
    return nc.get_connectivity(root, materialization=version, dataset=source)


def test_second_look_makes_no_request(demo_server, demo_facts):
    version, (root, *_) = demo_facts
    src = cave_source(demo_server)
    first, n_first = requests_during(demo_server, lambda: connectivity(src, root, version))
    second, n_second = requests_during(demo_server, lambda: connectivity(src, root, version))
    assert n_first > 0
    assert n_second == 0
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert second["pre"].dtype == np.uint64 and second["post"].dtype == np.uint64
    assert any("|synapses|" in k for k in open_cache().list_keys())


def test_after_restart_new_source_no_request(demo_server, demo_facts):
    version, (root, *_) = demo_facts
    first = connectivity(cave_source(demo_server), root, version)
    # a new source: no caveclient built yet, nothing in memory; only the disk cache
    again, n = requests_during(demo_server, lambda: connectivity(cave_source(demo_server), root, version))
    assert n == 0
    pd.testing.assert_frame_equal(first, again, check_exact=True)


_CHILD = """
import json, sys
from napari_crant.sources.cave import CaveDatasetConfig, CaveSource
import napari_crant as nc
url, datastack, token, root, version = sys.argv[1:6]
src = CaveSource(CaveDatasetConfig(name="local", server_address=url, datastack=datastack, retries=0),
                 auth_token=token)
df = nc.get_connectivity(int(root), materialization=int(version), dataset=src)
print(json.dumps([[str(p), str(q), int(w)] for p, q, w in zip(df["pre"], df["post"], df["weight"])]))
"""


def _run_child(server, root: int, version: int) -> list[list]:
    out = subprocess.run([sys.executable, "-c", _CHILD, server.url, server.datastack, TOKEN, str(root),
                          str(version)], capture_output=True, text=True, env=os.environ.copy(),
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_after_restart_new_process_no_request(demo_server, demo_facts):
    version, (root, *_) = demo_facts
    cold, n_cold = requests_during(demo_server, lambda: _run_child(demo_server, root, version))
    warm, n_warm = requests_during(demo_server, lambda: _run_child(demo_server, root, version))
    assert n_cold > 0
    assert n_warm == 0
    assert cold == warm
    expected = connectivity(cave_source(demo_server), root, version)
    assert cold == [[str(p), str(q), int(w)] for p, q, w in
                    zip(expected["pre"], expected["post"], expected["weight"], strict=True)]


def test_offline_cached_answer_and_clear_error(isolated_home, demo_path, demo_facts):
    version, (root, other, _) = demo_facts
    with serve_in_thread(demo_path, token=TOKEN) as server:
        online = connectivity(cave_source(server, retries=0), root, version)
        skeleton = nc.get_l2_skeleton(root, materialization=version, dataset=cave_source(server))
    offline_src = cave_source(server, retries=0, timeout=5.0)  # same address, server stopped
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        offline = connectivity(offline_src, root, version)
        offline_skeleton = nc.get_l2_skeleton(root, materialization=version, dataset=offline_src)
    pd.testing.assert_frame_equal(online, offline, check_exact=True)
    pd.testing.assert_frame_equal(skeleton.nodes, offline_skeleton.nodes, check_exact=True)
    with pytest.raises(CaveConnectionError, match="cannot connect"):
        connectivity(offline_src, other, version)


def test_live_is_not_kept(demo_server, demo_facts):
    _, (root, *_) = demo_facts
    src = cave_source(demo_server)
    nc.get_connectivity(root, materialization="live", dataset=src)
    _, n = requests_during(demo_server, lambda: nc.get_connectivity(root, materialization="live",
                                                                      dataset=src))
    assert n > 0
    keys = open_cache().list_keys()
    assert not any("|synapses|" in k or "|root_status|" in k for k in keys), keys


def test_l2_skeleton_second_look(demo_server, demo_facts):
    version, (root, *_) = demo_facts
    first = nc.get_l2_skeleton(root, materialization=version, dataset=cave_source(demo_server))
    second, n = requests_during(demo_server, lambda: nc.get_l2_skeleton(
        root, materialization=version, dataset=cave_source(demo_server)))
    assert n == 0
    pd.testing.assert_frame_equal(first.nodes, second.nodes, check_exact=True)
    assert second.nodes["l2_id"].dtype == np.uint64


def test_no_token_in_keys_or_files(demo_server, demo_facts):
    version, (root, *_) = demo_facts
    connectivity(cave_source(demo_server), root, version)
    cache = open_cache()
    assert len(cache) > 0
    assert not any(TOKEN in k for k in cache.list_keys())
    for path in Path(cache.directory).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_server_label_drops_credentials():
    label = server_label("HTTPS://user:s3cret@Example.org:8443/cave/?token=abc#x", "kronauer_ant")
    assert label == "https://example.org:8443/cave kronauer_ant"


def test_eviction_keeps_size_bounded_least_recently_used_first(tmp_path):
    limit = 1 * 2**20
    cache = PersistentCache(tmp_path / "c", size_limit=limit, memory_bytes=0)  # the disk alone
    rng = np.random.default_rng(0)
    item = 40_000  # over diskcache's 32 kB: one file per value
    cache.set("keep", rng.integers(0, 2**63, item // 8, dtype=np.uint64), tag="t")
    for i in range(80):
        assert cache.set(f"k{i}", rng.integers(0, 2**63, item // 8, dtype=np.uint64), tag="t")
        assert cache.get("keep") is not None  # used all the time: never the least recent
        assert cache.volume() <= limit + 2 * item
    assert 10 < len(cache) < 30
    assert "keep" in cache and "k79" in cache
    assert "k0" not in cache
    cache.close()


def _writer(directory: str, worker: int, n: int) -> None:
    cache = PersistentCache(directory, size_limit=64 * 2**20)
    for i in range(n):
        key = f"shared-{i % 20}" if i % 2 else f"w{worker}-{i}"
        value = np.arange(int(key.split("-")[-1]) * 100 + 1000, dtype=np.uint64) + np.uint64(2**60)
        cache.set(key, value, tag="t")
        got = cache.get(key)
        assert got is not None and np.array_equal(got, value)
    cache.close()


def _expected(key: str) -> np.ndarray:
    return np.arange(int(key.split("-")[-1]) * 100 + 1000, dtype=np.uint64) + np.uint64(2**60)


def test_processes_writing_at_once_do_not_corrupt(tmp_path):
    directory = str(tmp_path / "shared")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(directory, w, 80)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    cache = PersistentCache(directory, size_limit=64 * 2**20)
    keys = cache.list_keys()
    assert len(keys) == 4 * 40 + 10  # 40 own keys per process, 10 written by all
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unreadable entry would warn
        for key in keys:
            assert np.array_equal(cache.get(key), _expected(key)), key
    assert cache._cache.check() == []
    cache.close()


def test_cache_cli_info_and_clear(demo_server, demo_facts, capsys):
    version, (root, *_) = demo_facts
    register_cave_dataset("cached-local", server_address=demo_server.url, datastack=demo_server.datastack,
                          auth_token=TOKEN)
    try:
        connectivity(nc.datasets.get_source("cached-local"), root, version)
        label = server_label(demo_server.url, demo_server.datastack)
        open_cache().set("https://elsewhere.org other|l2_graph|1", np.zeros((0, 2), np.uint64),
                         tag="https://elsewhere.org other")
        n_before = len(open_cache())
        assert cli_main(["cache", "info"]) == 0
        out = capsys.readouterr().out
        assert str(cache_location()) in out and label in out and "https://elsewhere.org other" in out
        assert cli_main(["cache", "clear", "--dataset", "cached-local"]) == 0
        assert f"removed {n_before - 1} entries" in capsys.readouterr().out
        assert open_cache().list_keys() == ["https://elsewhere.org other|l2_graph|1"]
        assert cli_main(["cache", "clear"]) == 0
        assert len(open_cache()) == 0
        assert cli_main(["cache", "clear", "--dataset", "no-such-dataset"]) == 2
        assert "no-such-dataset" in capsys.readouterr().err
    finally:
        unregister("cached-local")


def test_damaged_value_file_is_dropped_with_warning(tmp_path):
    cache = PersistentCache(tmp_path / "c", size_limit=64 * 2**20)
    big = np.arange(100_000, dtype=np.uint64)
    cache.set("big", big, tag="t")
    files = [p for p in (tmp_path / "c").rglob("*.val")]
    assert len(files) == 1
    files[0].write_bytes(b"\x00garbage" * 100)
    cache.close()
    cache = PersistentCache(tmp_path / "c", size_limit=64 * 2**20)  # as another process would
    with pytest.warns(CacheWarning, match="damaged entry"):
        assert cache.get("big") is None
    assert "big" not in cache
    cache.set("big", big, tag="t")
    assert np.array_equal(cache.get("big"), big)
    cache.close()


def test_damaged_database_is_replaced_with_warning(demo_server, demo_facts):
    version, (root, *_) = demo_facts
    first = connectivity(cave_source(demo_server), root, version)
    where = cache_location()
    close_caches()
    (where / "cache.db").write_bytes(b"this is not a database " * 1000)
    with pytest.warns(CacheWarning, match="is damaged"):
        again, n = requests_during(demo_server, lambda: connectivity(cave_source(demo_server), root, version))
    assert n > 0  # asked the server again
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert list(where.parent.glob(f"{where.name}.broken-*"))
    _, n = requests_during(demo_server, lambda: connectivity(cave_source(demo_server), root, version))
    assert n == 0  # and the new cache works


def test_cache_off(demo_server, demo_facts, monkeypatch):
    version, (root, *_) = demo_facts
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_MB", "0")
    connectivity(cave_source(demo_server), root, version)
    _, n = requests_during(demo_server, lambda: connectivity(cave_source(demo_server), root, version))
    assert n > 0
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="NAPARI_CRANT_CAVE_CACHE_MB"):
        open_cache()


def test_latency_option(isolated_home, tiny_path):
    import requests

    with serve_in_thread(tiny_path, token=TOKEN, latency_ms=300) as server:
        t0 = time.perf_counter()
        r = requests.get(f"{server.url}/info/api/v2/datastack/full/{server.datastack}",
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200
        assert elapsed >= 0.3
        assert server.app.state.requests.count == 1
    assert cli_main(["serve", "--dataset", tiny_path, "--latency", "-5"]) == 2
    with pytest.raises(ValueError, match="latency_ms"):
        create_app(SnapshotSource(tiny_path), latency_ms=float("inf"))


def _same(a, b) -> None:
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def test_every_cached_primitive_answers_exactly_as_the_server(tiny_server, tiny_path):
    """Each wrapped primitive, asked twice: the second answer (from disk, no request) is identical,
    dtypes included (uint64 IDs, UTC timestamps)."""
    import tiny
    from napari_crant.materialization import resolve_materialization

    at = resolve_materialization(SnapshotSource(tiny_path), 2)  # asks nothing of the server
    roots = np.array([tiny.A2, tiny.B0, tiny.C0, tiny.D0], np.uint64)
    l2 = np.array(list(tiny.L2.values()), np.uint64)
    svs = np.array([tiny.sv(k) for k in (1, 5, 9, 10)], np.uint64)
    calls = {  # in an order where no call fills the cache for a later one
        "voxel_resolution": lambda s: s.voxel_resolution,
        "versions": lambda s: s.versions(),
        "root_created": lambda s: s.root_created(roots),
        "root_status": lambda s: s.root_status(roots, at),
        "roots_of_supervoxels": lambda s: s.roots_of_supervoxels(svs, at),
        "roots_of_l2": lambda s: s.roots_of_l2(l2, at),
        "l2_of_supervoxels": lambda s: s.l2_of_supervoxels(svs),
        "l2_ids": lambda s: s.l2_ids(int(tiny.A2)),
        "l2_graph": lambda s: s.l2_graph(int(tiny.A2)),
        "l2_attributes": lambda s: s.l2_attributes(l2),
        "synapses": lambda s: s.synapses(roots[:2], None, at),
        "synapses_both": lambda s: s.synapses(roots[:2], roots, at, positions=False),
        "nuclei": lambda s: s.nuclei(),
    }
    for name, call in calls.items():
        fresh, n_fresh = requests_during(tiny_server, lambda c=call: c(cave_source(tiny_server,
                                                                              nucleus_table="nuclei_v1")))
        again, n_again = requests_during(tiny_server, lambda c=call: c(cave_source(tiny_server,
                                                                              nucleus_table="nuclei_v1")))
        assert n_fresh > 0, name
        assert n_again == 0, name
        _same(fresh, again)


def test_unusable_location_goes_on_without_cache(demo_server, demo_facts, tmp_path, monkeypatch):
    version, (root, *_) = demo_facts
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("NAPARI_CRANT_CAVE_CACHE_DIR", str(blocker / "cave"))
    with pytest.warns(CacheWarning, match="cannot be used"):
        first = connectivity(cave_source(demo_server), root, version)
    assert open_cache() is None
    again, n = requests_during(demo_server, lambda: connectivity(cave_source(demo_server), root, version))
    assert n > 0
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert blocker.read_text() == "not a directory"


def test_damage_found_when_reading_starts_a_new_cache(tmp_path):
    """Pages damaged behind a readable header (what a power cut can leave, SQLite not waiting for
    the disk): the first read moves the cache aside with a warning, and the new one works."""
    where = tmp_path / "c"
    cache = PersistentCache(where, size_limit=64 * 2**20)
    values = {f"key-{i}": np.arange(200, dtype=np.uint64) + np.uint64(576460752303423488 + i)
              for i in range(300)}
    for key, value in values.items():
        cache.set(key, value, tag="t")
    cache.close()
    data = bytearray((where / "cache.db").read_bytes())
    page = int.from_bytes(data[16:18], "big")
    rng = np.random.default_rng(0)
    for offset in range(page * 4, len(data), page):
        data[offset:offset + page] = rng.integers(0, 256, page, dtype=np.uint8).tobytes()
    (where / "cache.db").write_bytes(bytes(data))
    cache = PersistentCache(where, size_limit=64 * 2**20)  # the header still reads
    with pytest.warns(CacheWarning, match="is damaged"):
        assert cache.get("key-150") is None
    assert list(tmp_path.glob("c.broken-*"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # no more warnings: a sound new cache
        assert cache.get("key-151") is None
        assert cache.set("key-150", values["key-150"], tag="t")
        np.testing.assert_array_equal(cache.get("key-150"), values["key-150"])
    cache.close()


def test_primitives_are_found_on_cave_bases_never_on_the_interface():
    from napari_crant.sources.base import DataSource
    from napari_crant.sources.cave import CaveSource
    from napari_crant.sources.cave.cached import with_persistent_cache
    from napari_crant.sources.cave.chunkedgraph import ChunkedGraphPrimitives

    # root_status is defined on ChunkedGraphPrimitives (a base) and wrapped on CaveSource itself
    assert "root_status" in vars(CaveSource) and "root_status" in vars(ChunkedGraphPrimitives)
    assert CaveSource.root_status is not ChunkedGraphPrimitives.root_status
    assert CaveSource.root_status.__wrapped__ is ChunkedGraphPrimitives.root_status
    # a class with only the DataSource defaults has nothing to cache: named, not silently wrapped
    with pytest.raises(AttributeError, match="has no primitive"):
        with_persistent_cache(type("NotCave", (DataSource,), {}))
