"""``DataSource.synapse_columns`` (the arrays the counting queries use) equals ``synapses``."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import tiny
from napari_crant.materialization import resolve_materialization
from napari_crant.sources import snapshot_mapping as sm
from napari_crant.sources.base import DataSource
from napari_crant.sources.snapshot import SnapshotSource
from napari_crant.sources.snapshot_synapses import SynapseIndex

COLUMNS = ("id", "pre_pt_root_id", "post_pt_root_id", "size")


def _by_id(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.argsort(cols["id"], kind="stable")
    return {k: np.asarray(cols[k])[order] for k in COLUMNS}


def _same(source, pre, post, at) -> int:
    df = source.synapses(pre, post, at, positions=False)
    fast = _by_id(source.synapse_columns(pre, post, at))
    for k in COLUMNS:
        assert fast[k].dtype == (np.int64 if k == "size" else np.uint64), k
        np.testing.assert_array_equal(fast[k], df[k].to_numpy(), err_msg=k)
    roots_only = source.synapse_columns(pre, post, at, ())
    assert set(roots_only) == {"pre_pt_root_id", "post_pt_root_id"}
    order = np.lexsort((roots_only["post_pt_root_id"], roots_only["pre_pt_root_id"]))
    ref = np.lexsort((fast["post_pt_root_id"], fast["pre_pt_root_id"]))
    for k in roots_only:
        np.testing.assert_array_equal(roots_only[k][order], fast[k][ref], err_msg=k)
    # the base class's way (through the DataFrame) gives the same arrays too
    slow = _by_id(DataSource.synapse_columns(source, pre, post, at))
    for k in COLUMNS:
        np.testing.assert_array_equal(fast[k], slow[k], err_msg=k)
    return len(df)


@pytest.mark.parametrize("materialization", ["2025-02-01T00:00:00", 2, "latest", "live"])
def test_every_root_and_pair_of_the_tiny_dataset(tiny_path, materialization):
    src = SnapshotSource(tiny_path)
    at = resolve_materialization(src, materialization)
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))  # alive or not at `at`
    seen = 0
    for r in roots:
        one = np.array([r], np.uint64)
        seen += _same(src, one, None, at) + _same(src, None, one, at)
    for a, b in itertools.combinations(roots, 2):
        pair = np.array([a, b], np.uint64)
        seen += _same(src, pair, pair, at) + _same(src, pair, None, at) + _same(src, None, pair, at)
        seen += _same(src, np.array([a], np.uint64), np.array([b], np.uint64), at)
    assert seen > 0  # the comparison was not vacuous


def test_roots_not_alive_hold_no_synapses(tiny_path):
    src = SnapshotSource(tiny_path)
    at = resolve_materialization(src, "latest")
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    dead = roots[~src.root_status(roots, at)[1]]
    assert len(dead)
    cols = src.synapse_columns(dead, None, at)
    assert len(cols["id"]) == 0
    assert len(src.synapse_columns(None, dead, at)["id"]) == 0
    assert len(src.synapse_columns(np.array([tiny.UNKNOWN], np.uint64), None, at)["id"]) == 0


def test_demo_neurons_at_every_version(tmp_path):
    from napari_crant.demo import make_demo

    path = make_demo(tmp_path / "demo", n_neurons=60, seed=3)
    src = SnapshotSource(path)
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    rng = np.random.default_rng(0)
    versions = src.versions()
    for v in versions.loc[versions["valid"], "version"]:
        at = resolve_materialization(src, int(v))
        pick = rng.choice(roots, 25, replace=False)
        assert _same(src, pick, None, at) + _same(src, None, pick, at) > 0
        _same(src, pick[:10], pick[10:], at)


def test_needs_a_side(tiny_path):
    src = SnapshotSource(tiny_path)
    with pytest.raises(ValueError, match="pre_ids, post_ids or both"):
        src.synapse_columns(None, None, resolve_materialization(src, "latest"))


def _l2_path(src: SnapshotSource) -> SynapseIndex:
    """The same tables with an empty layout epoch: every moment resolves roots through L2 chunks."""
    index = src._synapse_index
    return SynapseIndex(index.synapses, index.post, index.root_slices, index.pre_l2, index.post_l2,
                        {"from_us": 0, "until_us": 0}, src._l2_of_roots, src.roots_of_l2)


def test_layout_slices_equal_the_l2_path(tmp_path):
    """At the newest version a root's rows are slices with stored roots; the answer is the one
    found through its L2 chunks and ``l2_roots`` (every root, either side, pairs)."""
    from napari_crant.demo import make_demo

    src = SnapshotSource(make_demo(tmp_path / "demo", n_neurons=60, seed=5))
    at = resolve_materialization(src, "latest")
    assert src._synapse_index.at_layout(at)
    slow = _l2_path(src)
    assert not slow.at_layout(at)
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    alive = roots[src.root_status(roots, at)[1]]
    rng = np.random.default_rng(1)
    checked = 0
    for pre, post in [*((alive[i:i + 1], None) for i in range(len(alive))),
                      *((None, alive[i:i + 1]) for i in range(len(alive))),
                      (alive, None), (None, alive),
                      *((np.sort(rng.choice(alive, 7, replace=False)),
                         np.sort(rng.choice(alive, 9, replace=False))) for _ in range(10))]:
        fast = _by_id(src._synapse_index.columns(pre, post, at, ("id", "size")))
        ref = _by_id(slow.columns(pre, post, at, ("id", "size")))
        for k in COLUMNS:
            np.testing.assert_array_equal(fast[k], ref[k], err_msg=k)
        checked += len(ref["id"])
        fast_index = src._synapse_index
        if pre is not None:
            rows, ref_rows = fast_index.pre_rows(pre, at), slow.pre_rows(pre, at)
        else:
            rows, ref_rows = fast_index.post_rows(post, at), slow.post_rows(post, at)
        np.testing.assert_array_equal(np.sort(rows), np.sort(ref_rows))
    assert checked > 1000


def test_older_versions_leave_the_layout_epoch(tiny_path):
    src = SnapshotSource(tiny_path)
    layout = src.manifest["layout"]
    versions = src.versions()
    newest = resolve_materialization(src, "latest")
    assert layout["roots_at_us"] == newest.timestamp_us
    assert layout["from_us"] <= newest.timestamp_us < layout["until_us"]
    older = [resolve_materialization(src, int(v)) for v in versions.loc[versions["valid"], "version"]
             if int(v) != newest.version]
    assert any(not src._synapse_index.at_layout(m) for m in older)


@pytest.mark.skipif(not (sm._CAN_PREAD and sm._NOWAIT), reason="Linux positioned reads")
def test_several_roots_are_read_by_positioned_reads_without_advice(tiny_path, monkeypatch):
    """At the layout moment the slices of several roots are read with one positioned read a
    slice (their pages in memory: no ``madvise``, no ``fadvise``), on either side; the
    madvise-and-fault path cost a system call per slice more and a page fault per new page
    (the counting queries' growth from 5M to 100M synapses)."""
    src = SnapshotSource(tiny_path)
    at = resolve_materialization(src, "latest")
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    alive = roots[src.root_status(roots, at)[1]]
    for name in ("synapses.arrow", "synapses_post.arrow"):
        (Path(tiny_path) / name).read_bytes()  # in the page cache
    want = {side: src.synapse_columns(*((alive, None) if side == "pre" else (None, alive)), at, ())
            for side in ("pre", "post")}
    reads, real = [], sm.os.preadv

    def counting(fd, buffers, offset, flags=0):
        reads.append(flags)
        return real(fd, buffers, offset, flags)

    monkeypatch.setattr(sm.os, "preadv", counting)
    monkeypatch.setattr(sm.os, "posix_fadvise", lambda *a: pytest.fail("fadvise"))
    monkeypatch.setattr(sm.MappedTable, "_advise", lambda *a: pytest.fail("madvise"))
    index = src._synapse_index
    for side in ("pre", "post"):
        reads.clear()
        got = src.synapse_columns(*((alive, None) if side == "pre" else (None, alive)), at, ())
        for k in want[side]:
            np.testing.assert_array_equal(got[k], want[side][k], err_msg=k)
        lo, hi = index._slice_bounds(alive, side)
        assert 0 < len(reads) <= int(np.count_nonzero(hi > lo)) and set(reads) == {sm._NOWAIT}
