"""Opening an existing diskcache cache without writing (``sources/cave/cache_open.py``): the same
``Cache`` as the constructor, no write when the settings are stored already, the constructor's
path otherwise, and several processes at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import diskcache
import numpy as np
import pytest

from napari_crant.sources.cave.cache import SQLITE_SYNCHRONOUS, PersistentCache
from napari_crant.sources.cave.cache_open import _open_unchanged, open_diskcache

SETTINGS = {"size_limit": 64 * 2**20, "eviction_policy": "least-recently-used", "cull_limit": 10,
            "statistics": False, "sqlite_synchronous": SQLITE_SYNCHRONOUS}


def _made(directory: Path) -> str:
    cache = diskcache.Cache(str(directory), **SETTINGS)
    cache.set("small", b"x" * 100)
    cache.set("large", b"y" * 100_000)  # a value file
    cache.close()
    return str(directory)


def _state(cache) -> dict:
    out = {k: v for k, v in vars(cache).items() if k not in ("_local", "_disk")}
    out["_disk"] = vars(cache._disk)
    return out


def _files(directory: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(directory).glob("cache.db*")}


def test_same_cache_as_the_constructor(tmp_path):
    directory = _made(tmp_path / "c")
    light = _open_unchanged(directory, dict(SETTINGS))
    full = diskcache.Cache(directory, **SETTINGS)
    assert light is not None and type(light) is diskcache.Cache
    assert _state(light) == _state(full)
    assert light.get("small") == b"x" * 100 and light.get("large") == b"y" * 100_000
    light.set("new", b"z")  # and it writes like any cache
    assert full.get("new") == b"z" and full.check() == []
    for c in (light, full):
        c.close()


def test_an_existing_cache_is_opened_without_a_write(tmp_path):
    directory = _made(tmp_path / "c")
    before = _files(directory)
    open_diskcache(directory, **SETTINGS).close()
    assert _files(directory) == before
    diskcache.Cache(directory, **SETTINGS).close()  # the constructor writes its settings again
    assert _files(directory) != before


def test_new_directory_other_settings_or_half_made_schema_take_the_constructor(tmp_path):
    fresh = str(tmp_path / "fresh")
    assert _open_unchanged(fresh, dict(SETTINGS)) is None
    cache = open_diskcache(fresh, **SETTINGS)  # created by the constructor
    cache.set("k", b"v")
    cache.close()
    assert _open_unchanged(fresh, dict(SETTINGS)) is not None

    bigger = {**SETTINGS, "size_limit": 128 * 2**20}
    assert _open_unchanged(fresh, bigger) is None
    open_diskcache(fresh, **bigger).close()  # the new limit is stored, as the constructor does
    with sqlite3.connect(Path(fresh) / "cache.db") as con:
        assert con.execute("SELECT value FROM Settings WHERE key = 'size_limit'").fetchone() == (128 * 2**20,)
        con.execute("DROP TRIGGER Settings_size_delete")  # a cache another process is still making
    assert _open_unchanged(fresh, bigger) is None
    open_diskcache(fresh, **bigger).close()
    with sqlite3.connect(Path(fresh) / "cache.db") as con:
        names = {n for (n,) in con.execute("SELECT name FROM sqlite_master")}
    assert "Settings_size_delete" in names
    assert _open_unchanged(fresh, bigger) is not None


def test_a_damaged_database_raises_as_the_constructor(tmp_path):
    directory = tmp_path / "c"
    directory.mkdir()
    (directory / "cache.db").write_bytes(b"not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        open_diskcache(str(directory), **SETTINGS)


def _reader_writer(directory: str, worker: int, n: int) -> None:
    cache = PersistentCache(directory, size_limit=SETTINGS["size_limit"])
    for i in range(n):
        key = f"shared-{i % 10}" if i % 2 else f"w{worker}-{i}"
        value = np.arange(int(key.split("-")[-1]) * 50 + 500, dtype=np.uint64) + np.uint64(2**60)
        cache.set(key, value, tag="t")
        got = cache.get(key)
        assert got is not None and np.array_equal(got, value)
    cache.close()


def test_processes_opening_an_existing_cache_at_once(tmp_path):
    """Four processes open one existing cache at the same time (the light path) and write and
    read; nothing is lost or damaged."""
    directory = _made(tmp_path / "shared")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_reader_writer, args=(directory, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    cache = open_diskcache(directory, **SETTINGS)
    assert cache.check() == []
    keys = set(cache.iterkeys())
    assert len(keys) == 4 * 20 + 5 + 2  # own keys, the 5 shared keys, the two made first
    assert cache.get("large") == b"y" * 100_000
    cache.close()
