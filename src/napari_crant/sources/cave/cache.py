"""The persistent on-disk cache of CAVE answers that never change.

A materialization version never changes and a root ID never changes meaning, so answers keyed
by (server, datastack, version) or by root ID are kept for good (see
:mod:`napari_crant.sources.cave.cached` for which ones). They live in a
`diskcache <https://grantjenks.com/docs/diskcache/>`_ cache (SQLite in WAL mode plus one file
per large value): bounded in size with least-recently-used eviction, and safe for several
processes and threads at once.

- Location: ``NAPARI_CRANT_CAVE_CACHE_DIR``, else ``<cache dir>/cave`` where the cache dir is
  ``NAPARI_CRANT_CACHE_DIR`` or the platform's user cache directory (platformdirs).
- Size: ``NAPARI_CRANT_CAVE_CACHE_MB`` megabytes (default :data:`DEFAULT_SIZE_MB`); ``0`` turns
  the persistent cache off.
- Keys name the server (without any credentials in its address), the datastack and what was
  asked; tokens are never part of a key or a value. Values are encoded without pickle
  (:mod:`napari_crant.sources.cave.cache_codec`).
- Each process also keeps the most recently used values in memory, decoded
  (:data:`MEMORY_BYTES` of their encoded size), so a second look within a session neither reads
  the disk nor decodes: it gets a copy (what a caller does to it never reaches the cache).
- SQLite never waits for the disk (:data:`SQLITE_SYNCHRONOUS`): opening the cache and reading
  from it write a little to its database (settings, the LRU access time), and with SQLite's
  default each checkpoint waited for ``fdatasync``, tens of milliseconds while other processes
  write a lot (``docs/benchmarks-cave-cache.md``).
- A damaged cache is never fatal: a value that cannot be read is dropped, and a cache database
  that cannot be opened, or that turns out damaged when read or written, is moved aside and
  started anew, each with a warning.

``napari-crant cache info`` and ``napari-crant cache clear [--dataset NAME]`` inspect and empty it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import time
import warnings
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from napari_crant import datasets
from napari_crant.sources.cave.cache_codec import CacheDecodeError, copy_value, decode, decode_columns, encode
from napari_crant.sources.cave.cache_open import open_diskcache

ENV_CACHE_DIR = "NAPARI_CRANT_CAVE_CACHE_DIR"
ENV_CACHE_MB = "NAPARI_CRANT_CAVE_CACHE_MB"
#: Default size limit in megabytes.
DEFAULT_SIZE_MB = 2048
#: Bytes of encoded values each process also keeps in memory (most recently used first).
MEMORY_BYTES = 128 * 2**20
#: A value read from memory is marked as used on disk (for eviction) at most this often, seconds.
TOUCH_INTERVAL_S = 60.0
#: SQLite's ``synchronous`` setting: 0 (OFF), SQLite never waits for the disk (``fdatasync``).
#: Opening the cache and marking entries as used write to its database; with the default
#: (NORMAL) each checkpoint waited for the disk, tens of milliseconds when other processes write
#: a lot. A cache can lose its newest entries in a power cut (they are asked again), and a
#: database damaged by one is moved aside and started anew (see the module docs).
SQLITE_SYNCHRONOUS = 0
_MISS = object()


class _Encoded(bytes):
    """A value kept in memory as read from disk, not decoded yet (:meth:`PersistentCache.peek_columns`)."""


class CacheWarning(UserWarning):
    """Something was wrong with the persistent cache; it was repaired and work went on."""


def cache_location() -> Path:
    """The directory of the persistent CAVE cache (see the module docs)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    return datasets.cache_dir() / "cave"


def size_limit_bytes() -> int:
    """The configured size limit in bytes (0: the persistent cache is off).

    Raises
    ------
    ValueError
        ``NAPARI_CRANT_CAVE_CACHE_MB`` is not a non-negative number.
    """
    text = os.environ.get(ENV_CACHE_MB, "").strip()
    if not text:
        return DEFAULT_SIZE_MB * 2**20
    try:
        mb = float(text)
    except ValueError:
        mb = -1.0
    if not mb >= 0:
        raise ValueError(f"{ENV_CACHE_MB} must be a number of megabytes >= 0, not {text!r}")
    return int(mb * 2**20)


@lru_cache(maxsize=64)  # part of every key of every cached call
def server_label(server_address: str, datastack: str) -> str:
    """``host[:port][/path] datastack``: the part of every key naming the dataset.

    User names, passwords, query strings and fragments of the address are left out (an address
    may carry credentials); the scheme and host are lower-cased.
    """
    parts = urlsplit(server_address.strip())
    host = (parts.hostname or "").lower()
    if parts.port is not None:
        host += f":{parts.port}"
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{host}{path} {datastack}"


class PersistentCache:
    """One cache directory (see the module docs); thread- and process-safe.

    Parameters
    ----------
    directory
        Where the cache lives (created if missing).
    size_limit
        Bytes kept at most; least recently used entries are evicted beyond it.
    memory_bytes
        Bytes of encoded values also kept in this process's memory.
    """

    def __init__(self, directory: str | os.PathLike, size_limit: int, memory_bytes: int = MEMORY_BYTES):
        self.directory = Path(directory)
        self.size_limit = int(size_limit)
        self._cache = self._open()
        self._memory: OrderedDict[str, tuple[Any, int, float]] = OrderedDict()  # value, bytes, touched
        self._memory_bytes = 0
        self._memory_limit = int(memory_bytes)
        self._memory_lock = threading.Lock()
        self._repair_lock = threading.Lock()

    def _remember(self, key: str, value: Any, size: int) -> None:
        if size > self._memory_limit // 4:
            return
        with self._memory_lock:
            old = self._memory.pop(key, None)
            self._memory_bytes -= old[1] if old is not None else 0
            self._memory[key] = (value, size, time.monotonic())
            self._memory_bytes += size
            while self._memory_bytes > self._memory_limit:
                _, dropped = self._memory.popitem(last=False)
                self._memory_bytes -= dropped[1]

    def _recall(self, key: str) -> Any:
        """The decoded value kept in memory for ``key`` (the caller copies it), or :data:`_MISS`."""
        with self._memory_lock:
            hit = self._memory.get(key)
            if hit is None:
                return _MISS
            self._memory.move_to_end(key)
            value, size, touched = hit
            if time.monotonic() - touched < TOUCH_INTERVAL_S:
                return value
            self._memory[key] = (value, size, time.monotonic())
        with contextlib.suppress(sqlite3.Error, OSError):
            self._cache.get(key, retry=True)  # marks it as recently used on disk (access time)
        return value

    def _forget(self, key: str | None = None) -> None:
        with self._memory_lock:
            if key is None:
                self._memory.clear()
                self._memory_bytes = 0
            else:
                old = self._memory.pop(key, None)
                self._memory_bytes -= old[1] if old is not None else 0

    def __repr__(self) -> str:
        return f"PersistentCache({str(self.directory)!r}, size_limit={self.size_limit})"

    def _open(self) -> Any:
        settings = {"size_limit": self.size_limit, "eviction_policy": "least-recently-used",
                    "cull_limit": 10, "statistics": False, "sqlite_synchronous": SQLITE_SYNCHRONOUS}
        try:  # without re-writing the settings of a cache that holds them already
            return open_diskcache(str(self.directory), **settings)
        except sqlite3.OperationalError:
            raise  # locked, read-only, out of space: not damage, so nothing is discarded
        except sqlite3.DatabaseError as e:  # "file is not a database", "malformed"
            self._move_aside(e)
            return open_diskcache(str(self.directory), **settings)

    def _move_aside(self, error: sqlite3.DatabaseError) -> None:
        aside = self.directory.with_name(f"{self.directory.name}.broken-{int(time.time())}")
        warnings.warn(f"the CAVE cache at {self.directory} is damaged ({error}); it was moved to "
                      f"{aside} and a new one started", CacheWarning, stacklevel=5)
        try:
            self.directory.rename(aside)
        except OSError:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _damaged(self, error: Exception, failed: Any) -> bool:
        """Whether ``error`` (raised reading or writing) says the database is damaged; if so the
        cache is moved aside and a new one opened (a damage found only when a page is read, e.g.
        after a power cut: SQLite does not wait for the disk here). ``failed``: the diskcache
        that raised (another thread may have started anew already)."""
        if not isinstance(error, sqlite3.DatabaseError) or isinstance(error, sqlite3.OperationalError):
            return False
        with self._repair_lock:
            if self._cache is not failed:
                return True  # repaired by another thread meanwhile
            broken = self._cache
            with contextlib.suppress(Exception):
                broken.close()
            self._forget()
            try:
                self._move_aside(error)
                self._cache = self._open()
            except (sqlite3.Error, OSError):
                self._cache = broken  # could not start anew: go on failing softly
                return False
        return True

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` (a copy: the caller may change it), or ``default`` (also
        for an unreadable entry, dropped with a :class:`CacheWarning`)."""
        value = self._load(key)
        return default if value is _MISS else copy_value(value)

    def peek(self, key: str, default: Any = None) -> Any:
        """:meth:`get` without the copy: the value this process keeps in memory, which the caller
        must only read (e.g. take a few columns of a frame, copying them), never change."""
        value = self._load(key)
        return default if value is _MISS else value

    def peek_columns(self, key: str, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
        """Columns ``names`` of the frame stored under ``key`` (read only: the caller copies what it
        keeps), or None if nothing readable is stored there; ``KeyError`` for a missing column.

        Read from the stored bytes, no frame made (a first look after a restart does not pay pandas
        for a frame it does not return); the bytes are kept in memory, decoded by :meth:`get` and
        :meth:`peek` when asked."""
        value = self._recall(key)
        if value is _MISS:
            data = self._read(key)
            if data is _MISS:
                return None
            value = _Encoded(data)
            self._remember(key, value, len(data))
        if isinstance(value, _Encoded):
            try:
                columns = decode_columns(value, names)
            except CacheDecodeError as e:
                self._drop_damaged(key, e)
                return None
            if columns is not None:
                return columns
            value = self._load(key)  # another kind of value: decoded (and kept decoded)
            if value is _MISS:
                return None
        return {name: value[name].to_numpy() for name in names}

    def _read(self, key: str) -> Any:
        """The bytes stored on disk under ``key``, or :data:`_MISS` (also when reading fails)."""
        cache = self._cache
        try:
            return cache.get(key, default=_MISS, retry=True)
        except (sqlite3.Error, OSError) as e:
            if self._damaged(e, cache):
                return _MISS
            warnings.warn(f"reading the CAVE cache at {self.directory} failed ({type(e).__name__}); "
                          "asking the server instead", CacheWarning, stacklevel=5)
            return _MISS

    def _drop_damaged(self, key: str, error: CacheDecodeError) -> None:
        warnings.warn(f"a damaged entry of the CAVE cache at {self.directory} was dropped ({error})",
                      CacheWarning, stacklevel=5)
        self.delete(key)

    def _load(self, key: str) -> Any:
        """The decoded value of ``key`` (kept in memory after the first read), or :data:`_MISS`."""
        value = self._recall(key)
        if value is not _MISS and not isinstance(value, _Encoded):
            return value
        data = self._read(key) if value is _MISS else value
        if data is _MISS:
            return _MISS
        try:
            value = decode(data)
        except CacheDecodeError as e:
            self._drop_damaged(key, e)
            return _MISS
        self._remember(key, value, len(data))
        return value

    def set(self, key: str, value: Any, tag: str) -> bool:
        """Store ``value`` under ``key`` (``tag``: the dataset, see :func:`server_label`).

        Returns
        -------
        bool
            Whether it was stored (values of kinds the codec does not know, or a failing disk,
            are skipped: the cache is an optimisation, never a reason to fail).
        """
        try:
            data = encode(value)
        except (TypeError, ValueError, pa_errors()):
            return False
        self._remember(key, copy_value(value), len(data))  # the caller keeps and may change value
        cache = self._cache
        try:
            return bool(cache.set(key, data, tag=tag, retry=True))
        except (sqlite3.Error, OSError) as e:
            if self._damaged(e, cache):
                return False
            warnings.warn(f"writing to the CAVE cache at {self.directory} failed ({type(e).__name__})",
                          CacheWarning, stacklevel=3)
            return False

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error if absent)."""
        self._forget(key)
        with contextlib.suppress(sqlite3.Error, OSError):
            self._cache.delete(key, retry=True)

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def __len__(self) -> int:
        return len(self._cache)

    def volume(self) -> int:
        """Bytes on disk (database and value files)."""
        return int(self._cache.volume())

    def list_keys(self) -> list[str]:
        """Every key (oldest first)."""
        return [str(k) for k in self._cache.iterkeys()]

    def clear(self, tag: str | None = None) -> int:
        """Remove every entry, or those of one dataset (``tag``); returns how many."""
        self._forget()
        if tag is None:
            return int(self._cache.clear(retry=True))
        return int(self._cache.evict(tag, retry=True))

    def close(self) -> None:
        """Close the database connections of this process."""
        self._cache.close()


def pa_errors() -> type[Exception]:
    """Arrow's error type (raised for frames Arrow cannot write, e.g. mixed object columns)."""
    import pyarrow as pa

    return pa.ArrowException


_open_caches: dict[tuple[str, int], PersistentCache | None] = {}
_open_lock = threading.Lock()
#: What :func:`open_cache` answered for each state of the settings it reads (every primitive of
#: every query asks for the cache: this spares building paths each time).
_by_settings: dict[tuple[str | None, ...], PersistentCache | None] = {}
_SETTINGS = (ENV_CACHE_DIR, ENV_CACHE_MB, datasets.ENV_CACHE_DIR, "HOME", "XDG_CACHE_HOME", "LOCALAPPDATA")


def open_cache() -> PersistentCache | None:
    """The process's cache at :func:`cache_location` with :func:`size_limit_bytes`, opened once per
    location; ``None`` when the size limit is 0 (persistent caching off) or the location cannot be
    used (then a :class:`CacheWarning` says why, once, and CAVE is simply asked every time)."""
    settings = (*(os.environ.get(name) for name in _SETTINGS), os.getcwd())
    found = _by_settings.get(settings, _MISS)
    if found is not _MISS:
        return found
    limit = size_limit_bytes()
    if limit == 0:
        return None
    where = str(cache_location().expanduser().absolute())
    with _open_lock:
        if (where, limit) not in _open_caches:
            try:
                _open_caches[(where, limit)] = PersistentCache(where, limit)
            except (sqlite3.Error, OSError) as e:
                warnings.warn(f"the CAVE cache at {where} cannot be used ({type(e).__name__}: {e}); "
                              "going on without it", CacheWarning, stacklevel=3)
                _open_caches[(where, limit)] = None
        _by_settings[settings] = _open_caches[(where, limit)]
        return _open_caches[(where, limit)]


def close_caches() -> None:
    """Close every cache this process opened (the next :func:`open_cache` opens anew)."""
    with _open_lock:
        _by_settings.clear()
        for cache in _open_caches.values():
            if cache is not None:
                cache.close()
        _open_caches.clear()
