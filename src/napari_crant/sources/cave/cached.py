"""Which CAVE answers are kept on disk, and for how long: one wrapper per primitive.

:func:`with_persistent_cache` decorates :class:`~napari_crant.sources.cave.source.CaveSource`
once; each primitive listed here is wrapped so that a stored answer is returned without any
request (without even building the caveclient: it works offline), and a fresh answer is stored.

Kept for good (they cannot change):

========================  ================================================  =====================
primitive                 key                                               stored when
========================  ================================================  =====================
``_known_and_created``    the root IDs asked                                every ID is a root
``root_status``           version (and its time), root IDs                  pinned version, all roots
``roots_of_supervoxels``  version, supervoxel IDs                           pinned version
``roots_of_l2``           version, L2 IDs                                   pinned version
``l2_ids``, ``l2_graph``  root ID                                           always
``l2_ids_many``           each root ID, as ``l2_ids`` (up to 200 roots)     a root has chunks
``l2_attributes``         L2 IDs                                            every chunk has them
``_synapses``             synapse table, version, pre IDs, post IDs         pinned version
``voxel_resolution``      synapse table                                     always
``root_mesh``             root ID (level of detail 0: the only one read)    a mesh was found
========================  ================================================  =====================

'live' answers (a timestamp without a version) are never stored. Answers about the present
(``versions``, ``nuclei``, ``l2_of_supervoxels``) are kept for :data:`SHORT_TTL_S` seconds only,
and used past that only when the server cannot be reached (with a warning saying how old they
are). Every key starts with :func:`~napari_crant.sources.cave.cache.server_label` (server and
datastack, no credentials); IDs are hashed in the order given.

The version list read from the server is also kept for good as bare facts (number, moment,
expiry, valid flag; :func:`remember_versions`): a *pinned* version resolves from them without
any request, after a restart too, while the server's last list said it is valid and the expiry
it named has not passed (:func:`pinned_version_timestamp`); 'latest' still reads the
short-lived list, since it is about the present. A kept synapse answer is read in place by
``synapse_columns`` (:func:`stored_synapse_columns`; only the four columns a count needs are read and copied).
"""

from __future__ import annotations

import functools
import hashlib
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.materialization import Materialization
from napari_crant.sources.cave.cache import CacheWarning, PersistentCache, open_cache, server_label
from napari_crant.sources.cave.errors import CaveConnectionError

#: Seconds an answer about the present (versions, nuclei, L2 of supervoxels) is reused.
SHORT_TTL_S = 300.0

KeyFn = Callable[..., "str | None"]
KeepFn = Callable[..., bool]


def ids_digest(ids: Any) -> str:
    """A short hash of an ID array as given (order and duplicates count); ``none`` for None."""
    if ids is None:
        return "none"
    arr = np.ascontiguousarray(np.asarray(ids, dtype=np.uint64))
    return f"{len(arr)}-{hashlib.blake2b(arr.tobytes(), digest_size=16).hexdigest()}"


def _pinned(at: Any) -> str | None:
    """``v<version>@<microseconds>`` for a pinned version, None for a live timestamp."""
    if isinstance(at, Materialization) and at.version is not None:
        return f"v{at.version}@{at.timestamp_us}"
    return None


def _dataset(source: Any) -> str:
    return server_label(source.config.server_address, source.config.datastack)


def _store(source: Any) -> PersistentCache | None:
    return open_cache()


def _permanent(name: str, key: KeyFn, keep: KeepFn) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap primitive ``name``: ``key(source, *args)`` (None: do not cache this call) and
    ``keep(result, *args)`` (whether this answer may be kept for good)."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def cached(self: Any, *args: Any, **kwargs: Any) -> Any:
            store = _store(self)
            try:
                what = None if store is None or kwargs else key(self, *args)
            except (TypeError, ValueError, OverflowError):
                what = None  # not IDs we can hash: the primitive itself will say what is wrong
            if what is None:
                return method(self, *args, **kwargs)
            full_key = f"{_dataset(self)}|{name}|{what}"
            hit = store.get(full_key)
            if hit is not None:
                return hit
            result = method(self, *args, **kwargs)
            if keep(result, *args):
                store.set(full_key, result, tag=_dataset(self))
            return result

        return cached

    return wrap


def _short_lived(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a primitive answering about the present: reuse for :data:`SHORT_TTL_S`, and after that
    only while the server cannot be reached."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def cached(self: Any, *args: Any) -> Any:
            store = _store(self)
            if store is None:
                return method(self, *args)
            try:
                full_key = f"{_dataset(self)}|{name}|{ids_digest(args[0]) if args else ''}"
            except (TypeError, ValueError, OverflowError):
                return method(self, *args)
            hit = store.get(full_key)
            if hit is not None:
                stamp, result = float(hit[0][0]), hit[1]
                if time.time() - stamp < SHORT_TTL_S:
                    return result
            try:
                result = method(self, *args)
            except CaveConnectionError as e:
                if hit is None:
                    raise
                age = time.time() - float(hit[0][0])
                warnings.warn(f"{self.name}: {e}; using the {name} answer stored {age / 60:.0f} min ago",
                              CacheWarning, stacklevel=3)
                return hit[1]
            store.set(full_key, (np.array([time.time()]), result), tag=_dataset(self))
            return result

        return cached

    return wrap


def stored_synapse_columns(source: Any, pre: Any, post: Any, at: Any,
                           names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Columns ``names`` of the kept answer of ``source._synapses(pre, post, at)`` *without a copy*
    and without making its frame (:meth:`PersistentCache.peek_columns`; the caller only reads
    them, e.g. copies them), or None when none is kept (then ask ``_synapses``)."""
    store = open_cache()
    if store is None:
        return None
    try:
        what = _key_synapses(source, pre, post, at)
    except (TypeError, ValueError, OverflowError):
        return None
    if what is None:
        return None
    return store.peek_columns(f"{_dataset(source)}|synapses|{what}", names)


#: Columns of the kept version list (int64): number, timestamp and expiry (microseconds since
#: the epoch; :data:`NEVER` when the server names none), and the server's ``valid`` flag (0/1).
VERSION_FACTS = ("version", "timestamp_us", "expires_us", "valid")
NEVER = np.iinfo(np.int64).max


def remember_versions(source: Any, facts: np.ndarray) -> None:
    """Keep the version list just read from the server (:data:`VERSION_FACTS` rows) for good: a
    version's moment never changes, so a pinned version resolves without asking again (see
    :func:`pinned_version_timestamp`)."""
    store = open_cache()
    if store is not None:
        store.set(f"{_dataset(source)}|version_facts|", np.ascontiguousarray(facts, np.int64),
                  tag=_dataset(source))


def pinned_version_timestamp(source: Any, version: int) -> pd.Timestamp | None:
    """The timestamp (UTC) of ``version`` from the kept version list, if that list said it is valid
    and its expiry (named by the server) has not passed; None otherwise (then the version list
    is read, from the short-lived cache or the server). No request, no frame operation."""
    store = open_cache()
    if store is None:
        return None
    facts = store.peek(f"{_dataset(source)}|version_facts|")
    if facts is None or facts.ndim != 2 or facts.shape[1] != len(VERSION_FACTS):
        return None
    row = np.flatnonzero(facts[:, 0] == version)
    if len(row) != 1:
        return None
    _, stamp_us, expires_us, valid = (int(x) for x in facts[row[0]])
    if not valid or time.time() * 1e6 >= expires_us:
        return None
    return pd.Timestamp(np.datetime64(stamp_us, "us")).tz_localize("UTC")


def _key_ids_at(source: Any, ids: Any, at: Any) -> str | None:
    version = _pinned(at)
    return None if version is None else f"{version}|{ids_digest(ids)}"


def _key_root(source: Any, root_id: Any) -> str:
    return str(int(np.uint64(root_id)))


def _key_root_mesh(source: Any, root_id: Any, at: Any = None) -> str:
    """A root's mesh does not depend on the moment asked: a root ID names one segmentation."""
    return f"{int(np.uint64(root_id))}|lod0"


def _key_synapses(source: Any, pre: Any, post: Any, at: Any) -> str | None:
    version = _pinned(at)
    if version is None:
        return None
    return f"{source.config.synapse_table}|{version}|{ids_digest(pre)}|{ids_digest(post)}"


def _always(result: Any, *args: Any) -> bool:
    return True


def _all_known(result: tuple[np.ndarray, Any], *args: Any) -> bool:
    return bool(np.asarray(result[0]).all())


def _not_empty(result: np.ndarray, *args: Any) -> bool:
    return len(result) > 0


def _every_chunk(result: pd.DataFrame, l2_ids: Any) -> bool:
    return len(result) == len(np.asarray(l2_ids))


#: primitive -> wrapper; a primitive missing from the class is an error at import.
PERMANENT: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "_known_and_created": _permanent("root_created", lambda s, ids: ids_digest(ids), _all_known),
    "root_status": _permanent("root_status", _key_ids_at, _all_known),
    "roots_of_supervoxels": _permanent("roots_of_supervoxels", _key_ids_at, _always),
    "roots_of_l2": _permanent("roots_of_l2", _key_ids_at, _always),
    "l2_ids": _permanent("l2_ids", _key_root, _not_empty),
    "l2_graph": _permanent("l2_graph", _key_root, _always),
    "l2_attributes": _permanent("l2_attributes", lambda s, ids: ids_digest(ids), _every_chunk),
    "_synapses": _permanent("synapses", _key_synapses, _always),
    "root_mesh": _permanent("root_mesh", _key_root_mesh, _always),  # no mesh: raised, not kept
}
SHORT_LIVED = ("versions", "nuclei", "l2_of_supervoxels")


#: ``l2_ids_many`` looks the roots up one by one in the cache (a read each, and a write each for
#: those asked) for at most this many distinct roots; larger sets go to the server in bulk.
L2_MANY_KEPT = 200


def _l2_ids_many(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``l2_ids_many``: each root's L2 chunks are kept under ``l2_ids``'s key (a root's chunks
    never change), so only the roots not kept yet are asked for (in one request)."""

    @functools.wraps(method)
    def cached(self: Any, root_ids: Any) -> tuple[np.ndarray, np.ndarray]:
        store = _store(self)
        try:
            roots = np.asarray(root_ids, dtype=np.uint64)
            uniq = np.unique(roots)
        except (TypeError, ValueError, OverflowError):
            return method(self, root_ids)  # not IDs: the primitive itself says what is wrong
        if store is None or roots.ndim != 1 or not 0 < len(uniq) <= L2_MANY_KEPT:
            return method(self, root_ids)
        prefix = f"{_dataset(self)}|l2_ids|"
        by_root: dict[int, np.ndarray] = {}
        for root in uniq.tolist():
            hit = store.peek(f"{prefix}{root}")  # read only: concatenated (copied) below
            if hit is not None:
                by_root[root] = hit
        missing = np.array([r for r in uniq.tolist() if r not in by_root], dtype=np.uint64)
        if len(missing):
            l2, owner = method(self, missing)
            for i, root in enumerate(missing.tolist()):
                chunks = np.asarray(l2[owner == i], dtype=np.uint64)
                by_root[root] = chunks
                if len(chunks):
                    store.set(f"{prefix}{root}", chunks, tag=_dataset(self))
        parts = [by_root[root] for root in roots.tolist()]
        owner = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
        return np.concatenate(parts).astype(np.uint64), owner

    return cached


def _resolution_property(prop: property) -> property:
    getter = _permanent("voxel_resolution", lambda s: s.config.synapse_table, _always)(prop.fget)
    return property(getter, doc=prop.__doc__)


def with_persistent_cache(cls: type) -> type:
    """Class decorator: wrap the primitives of a CAVE source (see the module docs).

    Raises
    ------
    AttributeError
        A primitive named here is not a method of ``cls`` (renamed: update this module).
    """
    for name, wrapper in PERMANENT.items():
        setattr(cls, name, wrapper(_own(cls, name)))
    for name in SHORT_LIVED:
        setattr(cls, name, _short_lived(name)(_own(cls, name)))
    cls.l2_ids_many = _l2_ids_many(_own(cls, "l2_ids_many"))
    resolution = _own(cls, "voxel_resolution")
    if not isinstance(resolution, property):
        raise AttributeError(f"{cls.__name__}.voxel_resolution is not a property")
    cls.voxel_resolution = _resolution_property(resolution)
    return cls


def _own(cls: type, name: str) -> Any:
    """``name`` as defined by ``cls`` or one of its CAVE bases (e.g. ``ChunkedGraphPrimitives``),
    never a default of the ``DataSource`` interface."""
    for klass in cls.__mro__:
        if klass.__module__.startswith(f"{__package__}.") and name in vars(klass):
            return vars(klass)[name]
    raise AttributeError(f"{cls.__name__} has no primitive {name!r} to cache")
