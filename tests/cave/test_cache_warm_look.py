"""The warm look over CAVE: a pinned version resolves from the kept version list (no request, even
after a restart and after the short-lived version list expired), kept synapse answers are read
in place yet never shared with callers, and 'latest' still asks about the present.

Requests are counted by the local server itself (``app.state.requests``); every test has an
empty cache directory of its own (``tests/conftest.py``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from cave_helpers import cave_source

import napari_crant as nc
import tiny
from napari_crant.materialization import MaterializationError, resolve_materialization
from napari_crant.queries.update import clear_update_cache
from napari_crant.sources.base import DataSource
from napari_crant.sources.cave import cached
from napari_crant.sources.cave.cache import close_caches, open_cache, server_label
from napari_crant.sources.snapshot import SnapshotSource


def requests_during(server, fn):
    """``(result of fn(), {path: requests} the server received meanwhile)``."""
    log = server.app.state.requests
    log.reset()
    result = fn()
    return result, log.paths()


def version_list_requests(paths: dict[str, int]) -> int:
    return sum(n for p, n in paths.items() if "/version" in p)


def connectivity(server, version) -> pd.DataFrame:
    return nc.get_connectivity(int(tiny.A2), materialization=version, dataset=cave_source(server))


def restart() -> None:
    """What a new process has: the cache on disk, nothing in memory."""
    close_caches()


def test_pinned_version_needs_no_version_list_after_restart(tiny_server, tiny_path, monkeypatch):
    first, paths = requests_during(tiny_server, lambda: connectivity(tiny_server, 3))
    assert version_list_requests(paths) > 0  # the first look lists the versions
    # later than the version list is kept (5 min): a restarted process used to ask for it again
    monkeypatch.setattr(cached, "SHORT_TTL_S", 0.0)
    restart()
    again, paths = requests_during(tiny_server, lambda: connectivity(tiny_server, 3))
    assert paths == {}
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert again["pre"].dtype == np.uint64
    expected = nc.get_connectivity(int(tiny.A2), materialization=3, dataset=SnapshotSource(tiny_path))
    pd.testing.assert_frame_equal(again, expected, check_exact=True)
    assert again.attrs["materialization_version"] == 3
    assert again.attrs["timestamp"] == expected.attrs["timestamp"]
    # 'latest' is about the present: past the expiry it asks for the version list again
    _, paths = requests_during(tiny_server, lambda: connectivity(tiny_server, "latest"))
    assert version_list_requests(paths) > 0


def test_pinned_version_past_its_expiry_is_asked_again(tiny_server, monkeypatch):
    first = connectivity(tiny_server, 3)
    store = open_cache()
    key = f"{server_label(tiny_server.url, tiny_server.datastack)}|version_facts|"
    facts = store.get(key)
    assert facts.dtype == np.int64 and facts.shape[1] == len(cached.VERSION_FACTS)
    assert set(facts[:, 0].tolist()) == {1, 2, 3}
    # the server's list said version 3 expires in an hour ago's past (as if kept that long)
    facts[facts[:, 0] == 3, 2] = int((time.time() - 3600) * 1e6)
    assert store.set(key, facts, tag="t")
    assert cached.pinned_version_timestamp(cave_source(tiny_server), 3) is None
    monkeypatch.setattr(cached, "SHORT_TTL_S", 0.0)  # and the short-lived version list is old
    restart()
    again, paths = requests_during(tiny_server, lambda: connectivity(tiny_server, 3))
    assert version_list_requests(paths) > 0  # checked with the server (which says: still valid)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    _, paths = requests_during(tiny_server, lambda: connectivity(tiny_server, 3))
    assert paths == {}  # the server's fresh list was kept


def test_expired_and_unknown_versions_still_refused(tiny_server):
    connectivity(tiny_server, 3)  # the version list is kept
    restart()
    src = cave_source(tiny_server)
    assert cached.pinned_version_timestamp(src, 1) is None  # kept, but not valid
    with pytest.raises(MaterializationError, match=r"version 1 .* has expired"):
        nc.get_connectivity(int(tiny.A2), materialization=1, dataset=src)
    with pytest.raises(MaterializationError, match=r"version 7 does not exist.*valid versions: 2, 3"):
        nc.get_connectivity(int(tiny.A2), materialization=7, dataset=src)


def test_version_timestamp_matches_the_version_list(tiny_server, tiny_path):
    src = cave_source(tiny_server)
    versions = src.versions()
    for v, ts, valid in zip(versions["version"], versions["timestamp"], versions["valid"], strict=True):
        kept = cached.pinned_version_timestamp(src, int(v))
        listed = DataSource.version_timestamp(src, int(v))
        if valid:
            assert kept == ts == listed and str(kept.tz) == "UTC"
            assert resolve_materialization(src, int(v)) == resolve_materialization(
                SnapshotSource(tiny_path), int(v))
        else:
            assert kept is None and listed is None


def test_synapse_columns_read_in_place_but_never_shared(tiny_server):
    src = cave_source(tiny_server)
    at = resolve_materialization(src, 3)
    roots = np.array([tiny.A2, tiny.B2], np.uint64)
    for pre, post in ((roots, None), (None, roots), (roots[:1], roots)):
        fresh, paths = requests_during(tiny_server, lambda p=pre, q=post: src.synapse_columns(p, q, at))
        assert paths
        kept, paths = requests_during(tiny_server, lambda p=pre, q=post: src.synapse_columns(p, q, at))
        assert paths == {}
        from_frame = DataSource.synapse_columns(src, pre, post, at)  # the frame, columns taken
        for got in (fresh, kept):
            assert set(got) == {"id", "pre_pt_root_id", "post_pt_root_id", "size"}
            for col, values in from_frame.items():
                assert got[col].dtype == values.dtype
                np.testing.assert_array_equal(got[col], values)
        frame = src.synapses(pre, post, at)
        for values in kept.values():
            values[:] = 0  # a caller changing what it was given changes nothing kept
        pd.testing.assert_frame_equal(src.synapses(pre, post, at), frame, check_exact=True)
        again = src.synapse_columns(pre, post, at)
        for col, values in from_frame.items():
            np.testing.assert_array_equal(again[col], values)


def test_synapse_columns_live_not_kept(tiny_server):
    src = cave_source(tiny_server)
    at = resolve_materialization(src, "live")
    roots = np.array([tiny.A2], np.uint64)
    src.synapse_columns(roots, None, at)
    _, paths = requests_during(tiny_server, lambda: src.synapse_columns(roots, None, at))
    assert paths  # 'live' keeps its short life: asked again
    assert not any("|synapses|" in k for k in open_cache().list_keys())


def test_l2_ids_many_kept_per_root(tiny_server, tiny_path):
    roots = np.array([tiny.A0, tiny.B0, tiny.A0, tiny.C0], np.uint64)
    (l2, owner), paths = requests_during(tiny_server, lambda: cave_source(tiny_server).l2_ids_many(roots[:2]))
    assert sum(n for p, n in paths.items() if p.endswith("/leaves_many")) == 1
    restart()
    src = cave_source(tiny_server)
    (l2_all, owner_all), paths = requests_during(tiny_server, lambda: src.l2_ids_many(roots))
    # only C0 was not kept: one request for it alone
    assert sum(n for p, n in paths.items() if p.endswith("/leaves_many")) == 1
    assert not any(p.endswith("/leaves") for p in paths)
    (again, again_owner), paths = requests_during(tiny_server, lambda: src.l2_ids_many(roots))
    assert paths == {}
    expected, expected_owner = SnapshotSource(tiny_path).l2_ids_many(roots)
    for got, got_owner in ((l2_all, owner_all), (again, again_owner)):
        assert got.dtype == np.uint64 and got_owner.dtype == owner.dtype
        for i, root in enumerate(roots):
            np.testing.assert_array_equal(got[got_owner == i], src.l2_ids(int(root)))
    np.testing.assert_array_equal(l2, l2_all[owner_all <= 1])
    np.testing.assert_array_equal(again, l2_all)
    np.testing.assert_array_equal(again_owner, owner_all)
    again[:] = 0  # what a caller does to its answer changes nothing kept
    np.testing.assert_array_equal(src.l2_ids_many(roots)[0], l2_all)
    np.testing.assert_array_equal(l2_all, expected)
    np.testing.assert_array_equal(owner_all, expected_owner)


def test_outdated_ids_at_a_pinned_version_need_no_request_after_restart(tiny_server, tiny_path):
    ids = [int(tiny.A0), int(tiny.B0), int(tiny.C0)]  # A0 and B0 are not roots at version 3 any more

    def counts():
        return nc.get_synapse_counts(ids, materialization=3, dataset=cave_source(tiny_server))

    first, paths = requests_during(tiny_server, counts)
    assert any(p.endswith("/leaves_many") for p in paths)  # mapped by L2 overlap
    restart()
    clear_update_cache()  # what a new process has
    again, paths = requests_during(tiny_server, counts)
    assert paths == {}
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert again.attrs["root_ids"] == first.attrs["root_ids"]
    assert again.attrs["root_ids"][int(tiny.A0)] == int(tiny.A2)
    expected = nc.get_synapse_counts(ids, materialization=3, dataset=SnapshotSource(tiny_path))
    pd.testing.assert_frame_equal(again, expected, check_exact=True)


def test_synapse_columns_after_restart_read_from_the_stored_bytes(tiny_server):
    """After a restart the kept answer's columns come from its bytes (no frame made), equal to the
    server's; the frame is still there for ``synapses`` and nothing a caller does reaches it."""
    src = cave_source(tiny_server)
    at = resolve_materialization(src, 3)
    roots = np.array([tiny.A2, tiny.B2], np.uint64)
    fresh = src.synapse_columns(roots, None, at)
    frame = src.synapses(roots, None, at)
    restart()
    src = cave_source(tiny_server)
    for _ in range(2):  # from disk, then from the bytes kept in memory
        kept, paths = requests_during(tiny_server, lambda: src.synapse_columns(roots, None, at))
        assert paths == {}
        for col, values in fresh.items():
            assert kept[col].dtype == values.dtype and kept[col].flags.writeable
            np.testing.assert_array_equal(kept[col], values, strict=True)
            kept[col][:] = 0  # the caller's own copy
    pd.testing.assert_frame_equal(src.synapses(roots, None, at), frame, check_exact=True)
    np.testing.assert_array_equal(src.synapse_columns(roots, None, at)["id"], fresh["id"], strict=True)


def test_peek_columns_of_other_values_and_damaged_entries(tmp_path):
    import warnings

    from napari_crant.sources.cave.cache import CacheWarning, PersistentCache

    store = PersistentCache(tmp_path / "c", size_limit=64 * 2**20)
    ids = np.array([576_460_752_400_000_001, 2**64 - 1], np.uint64)
    when = pd.to_datetime(["2025-01-01", "2025-02-01"], utc=True)
    store.set("frame", pd.DataFrame({"id": ids, "when": when, "size": [3, 4]}), tag="t")
    store.set("array", ids, tag="t")
    store.close()
    store = PersistentCache(tmp_path / "c", size_limit=64 * 2**20)  # as a new process
    got = store.peek_columns("frame", ("id", "size"))
    np.testing.assert_array_equal(got["id"], ids, strict=True)
    assert not got["id"].flags.writeable  # read only: callers copy
    # a tz-aware column is decoded the long way, and the frame is then kept decoded
    np.testing.assert_array_equal(store.peek_columns("frame", ("when",))["when"], when.to_numpy())
    assert store.peek("frame")["id"].tolist() == ids.tolist()
    with pytest.raises(KeyError):
        store.peek_columns("frame", ("missing",))
    with pytest.raises(IndexError):  # an array has no named columns: as indexing it would
        store.peek_columns("array", ("id",))
    assert store.peek_columns("absent", ("id",)) is None
    store._cache.set("broken", b"NCRANT-C2" + b"\xff" * 12, tag="t")  # a damaged entry
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.peek_columns("broken", ("id",)) is None
    assert any(issubclass(w.category, CacheWarning) and "damaged entry" in str(w.message) for w in caught)
    assert "broken" not in store
    store.close()
