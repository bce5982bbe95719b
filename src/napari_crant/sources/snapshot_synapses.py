"""A snapshot's synapse rows of given roots, at any moment (``docs/snapshot-format.md``).

``synapses.arrow`` is grouped by presynaptic root and ``synapses_post.arrow`` (the post-side
copy of the counting columns) by postsynaptic root, both as of the *layout moment* (the
newest valid version), and both store those roots. Two paths:

- **at the layout epoch** (the moments whose roots are the layout moment's: the newest
  version, and ``'live'`` if nothing was edited since): a root's rows on either side are one
  contiguous slice found by two binary searches, and both roots are read from the rows;
- **any other moment**: a root's L2 chunks (``root_l2``) -> each chunk's run of rows
  (``synapses_{pre,post}_l2.arrow``) -> the other side's root at that moment through
  ``l2_roots`` (binary searches, see :class:`~napari_crant.sources.snapshot.SnapshotSource`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from napari_crant.ids import in_sorted
from napari_crant.materialization import Materialization


def expand_ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(lo[i], hi[i])`` for all ``i`` without a Python loop."""
    n = (hi - lo).astype(np.int64)
    keep = n > 0
    lo, n = lo[keep].astype(np.int64), n[keep]
    total = int(n.sum())
    if total == 0:
        return np.array([], dtype=np.int64)
    if len(n) == 1:
        return np.arange(lo[0], lo[0] + total, dtype=np.int64)
    offsets = np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n)
    return offsets + np.arange(total, dtype=np.int64)


class _Columns(Protocol):
    def __getitem__(self, name: str) -> np.ndarray: ...
    def __len__(self) -> int: ...


class SynapseIndex:
    """The synapse rows of roots on either side, at any moment.

    Parameters
    ----------
    synapses, post, root_slices, pre_l2, post_l2
        The mapped ``synapses.arrow``, ``synapses_post.arrow``, ``synapses_roots.arrow``,
        ``synapses_pre_l2.arrow`` and ``synapses_post_l2.arrow`` (anything indexable by
        column name).
    layout
        The manifest's ``layout``: ``from_us``, ``until_us`` (the layout epoch).
    l2_of_roots
        ``roots -> (l2 chunks, index into roots)`` (``root_l2``).
    roots_of_l2
        ``(l2 chunks, moment) -> root of each`` (0 where none).
    """

    def __init__(
        self,
        synapses: _Columns,
        post: _Columns,
        root_slices: _Columns,
        pre_l2: _Columns,
        post_l2: _Columns,
        layout: dict[str, int],
        l2_of_roots: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
        roots_of_l2: Callable[[np.ndarray, Materialization], np.ndarray],
    ):
        self.synapses, self.post, self.pre_l2, self.post_l2 = synapses, post, pre_l2, post_l2
        self.root_slices = root_slices
        self._from_us, self._until_us = int(layout["from_us"]), int(layout["until_us"])
        self._l2_of_roots, self._roots_of_l2 = l2_of_roots, roots_of_l2
        self._slice_table: dict[str, np.ndarray] | None = None

    def _slice_columns(self) -> dict[str, np.ndarray]:
        """``synapses_roots.arrow`` in memory (a few dozen bytes per root): the binary
        searches for a root's slice touch no page of the large tables."""
        if self._slice_table is None:
            self._slice_table = {c: np.array(self.root_slices[c]) for c in (
                "root_id", "pre_start", "pre_stop", "post_start", "post_stop")}
        return self._slice_table

    def _slice_bounds(self, roots: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Start and stop of each of ``roots``' slice in its side's table (empty if absent)."""
        table = self._slice_columns()
        keys = table["root_id"]
        if not len(keys):
            return np.zeros(len(roots), np.int64), np.zeros(len(roots), np.int64)
        pos = np.minimum(np.searchsorted(keys, roots), len(keys) - 1)
        found = keys[pos] == roots
        return (np.where(found, table[f"{side}_start"][pos], 0),
                np.where(found, table[f"{side}_stop"][pos], 0))

    def one_root_partners(
        self, root: int, at: Materialization, sides: tuple[str, ...]
    ) -> dict[str, np.ndarray] | None:
        """The other side's roots of one root's rows on each of ``sides`` (``'pre'``: its
        outputs' postsynaptic roots), in the layout epoch: two scalar binary searches and
        one positioned read of one column per side, the later sides' rows asked for before
        the first is read (from disk, the reads are in flight together). ``None`` at other
        moments (use :meth:`columns`).
        """
        if not self.at_layout(at):
            return None
        table = self._slice_columns()
        keys = table["root_id"]
        pos = int(keys.searchsorted(np.uint64(root)))
        if pos >= len(keys) or int(keys[pos]) != root:
            return {side: np.zeros(0, np.uint64) for side in sides}
        # each side's (table, column, start, stop)
        where = {side: (*_PARTNER_COLUMN[side](self), int(table[f"{side}_start"][pos]),
                        int(table[f"{side}_stop"][pos])) for side in sides}
        # the later sides read now if their rows are in memory, else asked for from disk
        done = {side: _read(*where[side], wait=False) for side in sides[1:]}
        for side, got in done.items():
            if got is None:
                _will_read(*where[side])
        return {side: done[side] if done.get(side) is not None else _read(*where[side]) for side in sides}

    def at_layout(self, at: Materialization) -> bool:
        """Whether the stored roots are the roots at ``at`` (the fast path applies)."""
        return self._from_us <= at.timestamp_us < self._until_us

    # -- the rows of roots ------------------------------------------------------------------
    def _slices(self, roots: np.ndarray, side: str) -> np.ndarray:
        """Rows of ``side``'s table grouped by root whose root is one of ``roots`` (sorted), ascending."""
        return expand_ranges(*self._slice_bounds(roots, side))

    def _l2_runs(self, runs: _Columns, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows (ascending) of the chunks of ``roots`` in a side's table, and the root of each."""
        l2, owner = self._l2_of_roots(roots)
        order = np.argsort(l2, kind="stable")  # ascending keys: the searches walk forwards
        l2, owner_root = l2[order], roots[owner[order]]
        keys = runs["l2_id"]
        pos = np.searchsorted(keys, l2)
        pos_c = np.minimum(pos, max(len(keys) - 1, 0))
        found = (pos < len(keys)) & (keys[pos_c] == l2) if len(keys) else np.zeros(len(l2), bool)
        lo, hi = runs["start"][pos_c[found]], runs["stop"][pos_c[found]]
        rows = expand_ranges(lo, hi)
        side_root = np.repeat(owner_root[found], (hi - lo).astype(np.int64))
        order = np.argsort(rows, kind="stable")  # read the columns front to back
        return rows[order], side_root[order]

    def pre_rows(self, roots: np.ndarray, at: Materialization | None) -> np.ndarray:
        """Rows of ``synapses.arrow`` whose presynaptic chunk is one of ``roots``' chunks
        (at ``at`` if it is in the layout epoch; ``None``: the chunks the roots ever held)."""
        if at is not None and self.at_layout(at):
            return self._slices(roots, "pre")
        return self._l2_runs(self.pre_l2, roots)[0]

    def post_rows(self, roots: np.ndarray, at: Materialization | None) -> np.ndarray:
        """Rows of ``synapses.arrow`` whose postsynaptic chunk is one of ``roots``' chunks (ascending)."""
        if at is not None and self.at_layout(at):
            idx = self._slices(roots, "post")
        else:
            idx = self._l2_runs(self.post_l2, roots)[0]
        return np.sort(self.post["row"][idx])

    def roots_of_rows(self, rows: np.ndarray, at: Materialization) -> tuple[np.ndarray, np.ndarray]:
        """Pre and post roots at ``at`` of rows of ``synapses.arrow``."""
        s = self.synapses
        if self.at_layout(at):
            return s["pre_pt_root_id"][rows], s["post_pt_root_id"][rows]
        return (self._roots_of_l2_or_zero(s["pre_pt_l2_id"][rows], at),
                self._roots_of_l2_or_zero(s["post_pt_l2_id"][rows], at))

    def _roots_of_l2_or_zero(self, l2: np.ndarray, at: Materialization) -> np.ndarray:
        out = np.zeros(len(l2), dtype=np.uint64)
        nz = l2 != 0
        out[nz] = self._roots_of_l2(l2[nz], at)
        return out

    # -- the counting columns ---------------------------------------------------------------
    def columns(
        self,
        pre: np.ndarray | None,
        post: np.ndarray | None,
        at: Materialization,
        columns: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        """``pre_pt_root_id``, ``post_pt_root_id`` and ``columns`` (``id``, ``size``) of the
        synapses from ``pre`` to ``post`` (sorted distinct roots alive at ``at``; ``None``:
        any), read from the smaller side.

        Each column read is pages touched: only those asked for are read; one root's slice
        with one positioned read per column (:meth:`MappedTable.read`), the slices of several
        with one positioned read per slice (:meth:`MappedTable.read_ranges`: no page mapped,
        no advice for pages in memory), the rows of other moments prefetched in one go
        (:meth:`MappedTable.prefetch`) before they are read.
        """
        size, ids = "size" in columns, "id" in columns
        if pre is not None and (post is None or len(pre) <= len(post)):
            out, rows_of = self._pre_side(pre, at, size, ids)
            keep = None if post is None else in_sorted(out["post_pt_root_id"], post)
        else:
            out, rows_of = self._post_side(post, at, size, ids)
            keep = None if pre is None else in_sorted(out["pre_pt_root_id"], pre)
        rows = rows_of() if ids or (size and "size" not in out) else None
        if size and "size" not in out:
            out["size"] = self.synapses["size"][rows]
        if keep is not None and not keep.all():
            kept = np.flatnonzero(keep)  # usually few: gathering them beats masking each column
            out = {k: v.take(kept) for k, v in out.items()}
            rows = None if rows is None else rows.take(kept)
        result = {"pre_pt_root_id": out["pre_pt_root_id"], "post_pt_root_id": out["post_pt_root_id"]}
        if ids:
            result["id"] = self.synapses["id"][rows]
        if size:
            result["size"] = out["size"].astype(np.int64)
        return result

    def _pre_side(
        self, pre: np.ndarray, at: Materialization, size: bool, ids: bool
    ) -> tuple[dict[str, np.ndarray], Callable[[], np.ndarray]]:
        """The pre side's roots and a function giving their rows of ``synapses.arrow``."""
        s = self.synapses
        extra = (("size",) if size else ()) + (("id",) if ids else ())
        if self.at_layout(at):
            lo, hi = self._slice_bounds(pre, "pre")
            if len(pre) == 1:  # one neuron: one positioned read per column, no index arrays
                start, stop = int(lo[0]), int(hi[0])
                out = {"post_pt_root_id": _read(s, "post_pt_root_id", start, stop)}
                out["pre_pt_root_id"] = np.full(len(out["post_pt_root_id"]), pre[0], np.uint64)
                if size:
                    out["size"] = _read(s, "size", start, stop)
                if ids:
                    _prefetch(s, ("id",), lo, hi)
                return out, lambda: np.arange(start, stop)
            out = {"pre_pt_root_id": np.repeat(pre, hi - lo),
                   "post_pt_root_id": _read_ranges(s, "post_pt_root_id", lo, hi)}
            if size:
                out["size"] = _read_ranges(s, "size", lo, hi)
            if ids:
                _prefetch(s, ("id",), lo, hi)
            return out, lambda: expand_ranges(lo, hi)
        rows, pre_root = self._l2_runs(self.pre_l2, pre)
        _prefetch(s, ("post_pt_l2_id", *extra), *_runs(rows))
        return {"pre_pt_root_id": pre_root,
                "post_pt_root_id": self._roots_of_l2_or_zero(s["post_pt_l2_id"][rows], at)}, lambda: rows

    def _post_side(
        self, post: np.ndarray, at: Materialization, size: bool, ids: bool
    ) -> tuple[dict[str, np.ndarray], Callable[[], np.ndarray]]:
        """The post side's roots (and sizes) and a function giving their rows of ``synapses.arrow``."""
        p = self.post
        extra = (("size",) if size else ()) + (("row",) if ids else ())
        if self.at_layout(at):
            lo, hi = self._slice_bounds(post, "post")
            if len(post) == 1:  # one neuron: one positioned read per column
                start, stop = int(lo[0]), int(hi[0])
                out = {"pre_pt_root_id": _read(p, "pre_pt_root_id", start, stop)}
                out["post_pt_root_id"] = np.full(len(out["pre_pt_root_id"]), post[0], np.uint64)
                if size:
                    out["size"] = _read(p, "size", start, stop)
                return out, lambda: _read(p, "row", start, stop)
            out = {"pre_pt_root_id": _read_ranges(p, "pre_pt_root_id", lo, hi),
                   "post_pt_root_id": np.repeat(post, hi - lo)}
            if size:
                out["size"] = _read_ranges(p, "size", lo, hi)
            return out, lambda: _read_ranges(p, "row", lo, hi)  # read only if ``id`` is asked for
        idx, post_root = self._l2_runs(self.post_l2, post)
        _prefetch(p, ("pre_pt_l2_id", *extra), *_runs(idx))
        out = {"pre_pt_root_id": self._roots_of_l2_or_zero(p["pre_pt_l2_id"][idx], at),
               "post_pt_root_id": post_root}
        if size:
            out["size"] = p["size"][idx]
        return out, lambda: p["row"][idx]  # read only if ``id`` is asked for


def _runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop of each run of consecutive values in ascending ``rows``."""
    if not len(rows):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    return rows[np.concatenate(([0], breaks))], rows[np.append(breaks, len(rows)) - 1] + 1


def _read(table: _Columns, name: str, start: int, stop: int, wait: bool = True) -> np.ndarray | None:
    """Rows ``start:stop`` of column ``name``: a positioned read where the table offers one
    (:meth:`~napari_crant.sources.snapshot_mapping.MappedTable.read`; ``wait=False``: ``None``
    unless the rows are in memory), else a slice."""
    read = getattr(table, "read", None)
    if read is None:
        return table[name][start:stop]
    return read(name, start, stop) if wait else read(name, start, stop, wait=False)


#: Per side, the table grouped by that side's root and its column holding the other side's root.
_PARTNER_COLUMN: dict[str, Callable[[SynapseIndex], tuple[_Columns, str]]] = {
    "pre": lambda index: (index.synapses, "post_pt_root_id"),
    "post": lambda index: (index.post, "pre_pt_root_id"),
}


def _read_ranges(table: _Columns, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Rows ``lo[i]:hi[i]`` of column ``name``, concatenated: positioned reads where the table
    offers them (:meth:`~napari_crant.sources.snapshot_mapping.MappedTable.read_ranges`), else
    gathered by index."""
    read_ranges = getattr(table, "read_ranges", None)
    return read_ranges(name, lo, hi) if read_ranges is not None else table[name][expand_ranges(lo, hi)]


def _will_read(table: _Columns, name: str, start: int, stop: int) -> None:
    """Ask for rows ``start:stop`` of ``name`` to be read now, where the table can
    (:meth:`~napari_crant.sources.snapshot_mapping.MappedTable.will_read`)."""
    will_read = getattr(table, "will_read", None)
    if will_read is not None:
        will_read(name, start, stop)


def _prefetch(table: _Columns, names: tuple[str, ...], lo: np.ndarray, hi: np.ndarray) -> None:
    """Ask for rows ``lo[i]:hi[i]`` of ``names`` before they are read (tables that can)."""
    prefetch = getattr(table, "prefetch", None)
    if prefetch is not None:
        for name in names:
            prefetch(name, lo, hi)
