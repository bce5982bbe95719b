"""Opening diskcache's ``Cache`` on an existing cache without writing to it.

``diskcache.Cache(directory, **settings)`` writes each of its ~16 settings and 4 counters back
to the cache's SQLite database and re-runs its ``CREATE ... IF NOT EXISTS`` statements on every
open, each in its own transaction: about 2.5-3.5 ms of CPU (70 SQL statements), the largest
part of a CAVE answer's first look after a restart. When the cache already holds exactly the
settings asked for and its whole schema, those writes change nothing: :func:`open_diskcache` then
reads the settings and the schema (three statements) and sets up the same ``Cache`` object the
constructor would, and otherwise calls the constructor. Either way every later operation is
diskcache's own, so what several processes do at once is unchanged: a process that finds the
settings missing, different (another size limit) or half written, or the schema incomplete
(another process is creating the cache), takes the constructor's path.

The light path mirrors ``Cache.__init__`` of diskcache 5 (the attributes it sets); with another
major version the constructor is always used. ``tests/cave/test_cache_open.py`` checks that both
paths give the same object.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

#: The eviction policy the light path knows the index of (the one the persistent cache uses).
_POLICY, _POLICY_INDEX = "least-recently-used", "Cache_access_time"
#: ``diskcache.Cache``'s default timeout, seconds.
_TIMEOUT = 60
#: Tables, indices and triggers ``Cache.__init__`` creates (without the optional tag index).
_SCHEMA = frozenset({
    "Settings", "Cache", "Cache_key_raw", "Cache_expire_time", _POLICY_INDEX,
    "Settings_count_insert", "Settings_count_delete", "Settings_size_insert",
    "Settings_size_update", "Settings_size_delete",
})


def open_diskcache(directory: str, **settings: Any) -> Any:
    """``diskcache.Cache(directory, **settings)``, without writing when nothing would change.

    Parameters
    ----------
    directory
        The cache directory (created by the constructor if missing).
    settings
        diskcache settings (``size_limit``, ``eviction_policy``, ``sqlite_synchronous``, ...).

    Returns
    -------
    diskcache.Cache

    Raises
    ------
    sqlite3.Error
        As the constructor raises them (a locked or damaged database).
    """
    import diskcache

    cache = _open_unchanged(directory, settings) if diskcache.__version__.startswith("5.") else None
    return cache if cache is not None else diskcache.Cache(directory, **settings)


def _open_unchanged(directory: str, settings: dict[str, Any]) -> Any:
    """The cache set up from what is stored, or ``None`` if the constructor must run."""
    from diskcache import core

    wanted = {**core.DEFAULT_SETTINGS, **settings}
    if wanted["eviction_policy"] != _POLICY or wanted["tag_index"] or set(wanted) & set(core.METADATA):
        return None
    if not os.path.isfile(os.path.join(directory, core.DBNAME)):
        return None
    cache = core.Cache.__new__(core.Cache)
    # the connection the constructor leaves open: its timeout (seconds waiting for a lock)
    cache._directory, cache._timeout = directory, _TIMEOUT
    cache._local, cache._txn_id = threading.local(), None
    try:  # the first statement connects and applies the stored ``sqlite_*`` pragmas, as the constructor
        stored = dict(cache._sql("SELECT key, value FROM Settings").fetchall())
        schema = {name for (name,) in cache._sql("SELECT name FROM sqlite_master").fetchall()}
        ((page_size,),) = cache._sql("PRAGMA page_size").fetchall()
    except sqlite3.Error:  # no Settings table yet, locked, damaged: the constructor decides
        cache.close()
        return None
    unchanged = all(key in stored and stored[key] == value for key, value in wanted.items())
    if not unchanged or not schema >= _SCHEMA or not set(core.METADATA) <= set(stored):
        cache.close()
        return None
    for key, value in wanted.items():
        setattr(cache, key, value)
    cache._disk = core.Disk(directory, **{k[5:]: v for k, v in wanted.items() if k.startswith("disk_")})
    for key in core.METADATA:
        setattr(cache, key, stored[key])
    cache._page_size = page_size
    return cache
