"""A snapshot's chunkedgraph answers: roots, their L2 chunks and supervoxels, at any moment.

Binary searches on the snapshot's sorted, memory-mapped tables (``docs/snapshot-format.md``):

- root status and creation: the ``roots`` table (in memory, sorted by ``root_id``);
- root -> its L2 chunks: ``root_l2`` sorted by ``root_id``;
- L2 chunk -> root at time t: ``l2_roots`` sorted by ``l2_id``, filtered by lifetime;
- supervoxel -> L2 chunk: ``supervoxels`` sorted by ``sv_id``;
- L2 graph and attributes: ``l2_edges`` sorted by ``l2_a``, ``l2`` sorted by ``l2_id``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from napari_crant.ids import factorize, in_sorted
from napari_crant.materialization import Materialization
from napari_crant.sources.snapshot_mapping import MappedTable
from napari_crant.sources.snapshot_synapses import expand_ranges

#: Below this many L2 IDs, ``roots_of_l2`` searches each one instead of de-duplicating first.
_DIRECT_LOOKUP = 4096
#: Single roots whose status is remembered (the memory is emptied when full).
_ONE_ROOT_STATUS_KEPT = 65_536


class SnapshotGraph:
    """The chunkedgraph primitives of a snapshot (a base of
    :class:`~napari_crant.sources.snapshot.SnapshotSource`, which maps the tables named below)."""

    _roots: dict[str, np.ndarray]  # root_id, created_us, expired_us (sorted by root_id)
    _root_l2: MappedTable
    _l2_roots: MappedTable
    _l2: MappedTable
    _supervoxels: MappedTable
    _l2_edges: MappedTable

    def _root_positions(self, ids: np.ndarray) -> np.ndarray:
        roots = self._roots["root_id"]
        pos = np.searchsorted(roots, ids)
        pos_c = np.minimum(pos, max(len(roots) - 1, 0))
        found = (pos < len(roots)) & (roots[pos_c] == ids) if len(roots) else np.zeros(len(ids), bool)
        return np.where(found, pos_c, -1)

    def root_status(self, ids: np.ndarray, at: Materialization) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.uint64)
        if ids.shape == (1,):  # one neuron's query asks more than once; a snapshot never changes
            known, alive = self.one_root_status(int(ids[0]), at)
            return np.array([known]), np.array([alive])
        return self._root_status(ids, at)

    def one_root_status(self, root: int, at: Materialization) -> tuple[bool, bool]:
        key = (root, at.timestamp_us)
        seen = self._one_root_status.get(key)
        if seen is None:
            if len(self._one_root_status) >= _ONE_ROOT_STATUS_KEPT:
                self._one_root_status.clear()
            seen = self._one_root_status[key] = self._one_status(*key)
        return seen

    @cached_property
    def _one_root_status(self) -> dict[tuple[int, int], tuple[bool, bool]]:
        """``(known, alive)`` of single roots asked at a moment (``root_status`` of one ID)."""
        return {}

    def _one_status(self, root: int, t_us: int) -> tuple[bool, bool]:
        """``(known, alive at t_us)`` of one root: one scalar binary search."""
        roots = self._roots["root_id"]
        pos = int(roots.searchsorted(np.uint64(root)))
        if pos >= len(roots) or int(roots[pos]) != root:
            return False, False
        return True, int(self._roots["created_us"][pos]) <= t_us < int(self._roots["expired_us"][pos])

    def _root_status(self, ids: np.ndarray, at: Materialization) -> tuple[np.ndarray, np.ndarray]:
        pos = self._root_positions(ids)
        known = pos >= 0
        t = at.timestamp_us
        p = pos[known]
        alive = np.zeros(len(ids), dtype=bool)
        alive[known] = (self._roots["created_us"][p] <= t) & (t < self._roots["expired_us"][p])
        return known, alive

    def root_created(self, ids: np.ndarray) -> pd.Series:
        ids = np.asarray(ids, dtype=np.uint64)
        pos = self._root_positions(ids)
        us = np.where(pos >= 0, self._roots["created_us"][np.maximum(pos, 0)], np.iinfo(np.int64).min)
        out = pd.to_datetime(pd.Series(us.astype("datetime64[us]")), utc=True)
        out[pos < 0] = pd.NaT
        return out

    def l2_ids(self, root_id: int) -> np.ndarray:
        return self._l2_of_roots(np.array([root_id], dtype=np.uint64))[0]

    def l2_ids_many(self, root_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._l2_of_roots(np.asarray(root_ids, dtype=np.uint64))

    def _l2_of_roots(self, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L2 chunks of ``roots`` and, aligned, the index into ``roots`` each came from."""
        col = self._root_l2["root_id"]
        lo = np.searchsorted(col, roots, "left")
        hi = np.searchsorted(col, roots, "right")
        rows = expand_ranges(lo, hi)
        owner = np.repeat(np.arange(len(roots)), hi - lo)
        return self._root_l2["l2_id"][rows], owner

    def roots_of_l2(self, l2_ids: np.ndarray, at: Materialization) -> np.ndarray:
        l2_ids = np.asarray(l2_ids, dtype=np.uint64)
        out = np.zeros(len(l2_ids), dtype=np.uint64)
        if not len(l2_ids):
            return out
        if len(l2_ids) <= _DIRECT_LOOKUP:
            return self._roots_of_distinct_l2(l2_ids, at)
        code, uniq = factorize(l2_ids)  # linear-time hashing, uint64-exact
        uniq = np.asarray(uniq, np.uint64)
        order = np.argsort(uniq)  # sorted keys: the binary searches walk forwards
        roots = np.empty(len(uniq), np.uint64)
        roots[order] = self._roots_of_distinct_l2(uniq[order], at)
        return roots[code]

    def _roots_of_distinct_l2(self, uniq: np.ndarray, at: Materialization) -> np.ndarray:
        """``roots_of_l2`` by one binary search per value (duplicates searched again)."""
        col = self._l2_roots["l2_id"]
        lo = np.searchsorted(col, uniq, "left")
        hi = np.searchsorted(col, uniq, "right")
        rows = expand_ranges(lo, hi)
        owner = np.repeat(np.arange(len(uniq)), hi - lo)
        t = at.timestamp_us
        alive = (self._l2_roots["created_us"][rows] <= t) & (t < self._l2_roots["expired_us"][rows])
        res = np.zeros(len(uniq), dtype=np.uint64)
        res[owner[alive]] = self._l2_roots["root_id"][rows[alive]]
        return res

    def l2_of_supervoxels(self, sv_ids: np.ndarray, at: Materialization | None = None) -> np.ndarray:
        """The L2 chunk of each supervoxel (0 where unknown); a snapshot's chunks never change."""
        sv_ids = np.asarray(sv_ids, dtype=np.uint64)
        col = self._supervoxels["sv_id"]
        pos = np.searchsorted(col, sv_ids)
        pos_c = np.minimum(pos, max(len(col) - 1, 0))
        if not len(col):
            return np.zeros(len(sv_ids), np.uint64)
        found = (pos < len(col)) & (col[pos_c] == sv_ids) & (sv_ids != 0)
        return np.where(found, self._supervoxels["l2_id"][pos_c], np.uint64(0)).astype(np.uint64)

    def roots_of_supervoxels(self, sv_ids: np.ndarray, at: Materialization) -> np.ndarray:
        l2 = self.l2_of_supervoxels(sv_ids)
        out = np.zeros(len(l2), dtype=np.uint64)
        nz = l2 != 0
        out[nz] = self.roots_of_l2(l2[nz], at)
        return out

    def l2_graph(self, root_id: int) -> np.ndarray:
        l2 = self.l2_ids(root_id)
        a, b = self._l2_edges["l2_a"], self._l2_edges["l2_b"]
        # Edges are sorted by l2_a: take those starting in the root, keep those ending in it.
        lo = np.searchsorted(a, l2, "left")
        hi = np.searchsorted(a, l2, "right")
        rows = expand_ranges(lo, hi)
        ea, eb = a[rows], b[rows]
        inside = in_sorted(eb, l2)  # root_l2 rows are sorted by (root, l2)
        return np.stack([ea[inside], eb[inside]], axis=1).astype(np.uint64)

    def l2_attributes(self, l2_ids: np.ndarray) -> pd.DataFrame:
        l2_ids = np.asarray(l2_ids, dtype=np.uint64)
        col = self._l2["l2_id"]
        pos = np.searchsorted(col, l2_ids)
        pos_c = np.minimum(pos, max(len(col) - 1, 0))
        found = (pos < len(col)) & (col[pos_c] == l2_ids)
        p = pos_c[found]
        return pd.DataFrame({
            "l2_id": l2_ids[found],
            **{c: self._l2[c][p].astype(np.float64) for c in ("x", "y", "z", "max_dt_nm", "size_nm3")},
        })

    def _roots_of_l2_or_zero(self, l2: np.ndarray, at: Materialization) -> np.ndarray:
        out = np.zeros(len(l2), dtype=np.uint64)
        nz = l2 != 0
        out[nz] = self.roots_of_l2(l2[nz], at)
        return out
