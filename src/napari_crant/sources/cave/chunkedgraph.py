"""The chunkedgraph and L2 cache primitives of a CAVE source (a base of ``CaveSource``).

- root status: chunkedgraph ``is_valid_nodes``, ``is_latest_roots`` and ``get_root_timestamps``;
- roots of supervoxels / L2 chunks: ``get_roots(ids, timestamp=...)``;
- L2 chunks of a root: ``get_leaves(root, stop_layer=2)``, of many roots ``get_leaves_many``
  (so ``update_ids`` costs a few requests, not one per outdated ID); L2 graph: ``level2_chunk_graph``;
- L2 attributes: ``l2cache.get_l2data(..., attributes=["rep_coord_nm", "max_dt_nm", "size_nm3"])``;
- lineage: ``get_lineage_graph``.

Every request goes through the source's
:class:`~napari_crant.sources.cave.client.CaveConnection` (retries, errors naming the dataset);
which answers are kept on disk is decided in :mod:`napari_crant.sources.cave.cached`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.materialization import Materialization
from napari_crant.sources.cave.client import CaveConnection
from napari_crant.sources.cave.errors import CaveServerError

#: Roots per ``get_leaves_many`` call (one call lists the L2 chunks of this many roots).
LEAVES_BATCH = 1000
#: IDs per ``get_roots`` call (800 kB of ``roots_binary`` body).
ROOTS_BATCH = 100_000


class ChunkedGraphPrimitives:
    """The ``DataSource`` primitives answered by the chunkedgraph and the L2 cache.

    A base of :class:`~napari_crant.sources.cave.source.CaveSource`, which gives it
    :attr:`connection` and :attr:`name`.
    """

    connection: CaveConnection
    name: str

    def _run(self, what: str, fn: Callable[[], Any]) -> Any:
        return self.connection.run(what, fn)

    @property
    def _cg(self) -> Any:
        return self.connection.service("chunkedgraph")

    @staticmethod
    def _py(ts: pd.Timestamp) -> Any:
        return pd.Timestamp(ts).tz_convert("UTC").to_pydatetime()

    def _known_and_created(self, ids: np.ndarray) -> tuple[np.ndarray, pd.Series]:
        """Which of ``ids`` are roots, and when each was created (NaT if not a root)."""
        ids = np.asarray(ids, dtype=np.uint64)
        created = pd.Series(pd.NaT, index=range(len(ids)), dtype="datetime64[us, UTC]")
        uniq = np.unique(ids[ids != 0])
        if not len(uniq):
            return np.zeros(len(ids), dtype=bool), created
        cg = self._cg
        valid = np.asarray(self._run("checking root IDs", lambda: cg.is_valid_nodes(uniq)), dtype=bool)
        k = uniq[valid]
        known = np.isin(ids, k)
        if len(k):
            ts = self._run("root timestamps", lambda: cg.get_root_timestamps(k, latest=False))
            if len(ts) != len(k):
                raise self.connection.bad_answer(
                    "reading root timestamps", f"asked for {len(k)} root timestamps, got {len(ts)}")
            when = pd.DatetimeIndex(pd.to_datetime(list(ts), utc=True)).tz_convert(None).as_unit("us")
            out = np.full(len(ids), np.datetime64("NaT"), "datetime64[us]")
            out[known] = when.to_numpy()[np.searchsorted(k, ids[known])]  # k: sorted, unique
            created = pd.Series(out).dt.tz_localize("UTC")
        return known, created

    def root_created(self, ids: np.ndarray) -> pd.Series:
        return self._known_and_created(ids)[1]

    def root_status(self, ids: np.ndarray, at: Materialization) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.uint64)
        known, created = self._known_and_created(ids)
        alive = np.zeros(len(ids), dtype=bool)
        k = np.unique(ids[known])
        if len(k):
            cg = self._cg
            latest = np.asarray(self._run("checking root IDs", lambda: cg.is_latest_roots(
                k, timestamp=self._py(at.timestamp))), dtype=bool)
            alive = np.isin(ids, k[latest]) & known
            alive &= (created <= at.timestamp).fillna(False).to_numpy(dtype=bool)
        return known, alive

    def _get_roots(self, node_ids: np.ndarray, at: Materialization | None, stop_layer: int | None = None
                   ) -> np.ndarray:
        node_ids = np.asarray(node_ids, dtype=np.uint64)
        out = np.zeros(len(node_ids), dtype=np.uint64)
        nz = node_ids != 0
        if not nz.any():
            return out
        uniq, inv = np.unique(node_ids[nz], return_inverse=True)
        cg = self._cg
        ts = self._py(at.timestamp) if at is not None else None
        parts = []
        for i in range(0, len(uniq), ROOTS_BATCH):
            chunk = uniq[i:i + ROOTS_BATCH]
            got = self._run("looking up roots", lambda c=chunk: cg.get_roots(c, timestamp=ts,
                                                                            stop_layer=stop_layer))
            got = np.asarray(got, dtype=np.uint64)
            if len(got) != len(chunk):
                raise self.connection.bad_answer(
                    "looking up roots", f"asked for the roots of {len(chunk)} IDs, got {len(got)} answers")
            parts.append(got)
        out[nz] = np.concatenate(parts)[inv]
        return out

    def roots_of_supervoxels(self, sv_ids: np.ndarray, at: Materialization) -> np.ndarray:
        return self._get_roots(sv_ids, at)

    def l2_of_supervoxels(self, sv_ids: np.ndarray, at: Materialization | None = None) -> np.ndarray:
        return self._get_roots(sv_ids, at, stop_layer=2)

    def roots_of_l2(self, l2_ids: np.ndarray, at: Materialization) -> np.ndarray:
        return self._get_roots(l2_ids, at)

    def l2_ids(self, root_id: int) -> np.ndarray:
        cg = self._cg
        leaves = self._run("listing L2 chunks", lambda: cg.get_leaves(int(root_id), stop_layer=2))
        return np.sort(np.asarray(leaves).astype(np.uint64))

    def l2_ids_many(self, root_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L2 chunks of many roots in bulk: ``get_leaves_many(stop_layer=2)``, :data:`LEAVES_BATCH` a call."""
        root_ids = np.asarray(root_ids, dtype=np.uint64)
        uniq = np.unique(root_ids)
        cg = self._cg
        by_root: dict[int, np.ndarray] = {}
        for i in range(0, len(uniq), LEAVES_BATCH):
            chunk = [int(x) for x in uniq[i:i + LEAVES_BATCH]]
            got = self._run("listing L2 chunks", lambda c=chunk: cg.get_leaves_many(c, stop_layer=2))
            if not isinstance(got, dict):
                raise CaveServerError(f"{self.name}: malformed answer listing L2 chunks")
            for k, v in got.items():
                by_root[int(np.uint64(k))] = np.sort(np.asarray(v).astype(np.uint64).ravel())
            missing = [r for r in chunk if r not in by_root]
            if missing:
                raise CaveServerError(f"{self.name}: no L2 chunks listed for root {missing[0]}")
        parts = [by_root[int(r)] for r in root_ids]
        owner = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
        l2 = np.concatenate(parts).astype(np.uint64) if parts else np.array([], np.uint64)
        return l2, owner

    def l2_graph(self, root_id: int) -> np.ndarray:
        cg = self._cg
        edges = self._run("fetching the L2 graph", lambda: cg.level2_chunk_graph(int(root_id)))
        arr = np.asarray(edges, dtype=np.uint64)
        return arr.reshape(-1, 2) if arr.size else np.zeros((0, 2), dtype=np.uint64)

    def l2_attributes(self, l2_ids: np.ndarray) -> pd.DataFrame:
        l2_ids = np.asarray(l2_ids, dtype=np.uint64)
        l2c = self.connection.service("l2cache")
        found: dict[int, dict[str, Any]] = {}
        uniq = np.unique(l2_ids)
        for i in range(0, len(uniq), 5000):
            chunk = [int(x) for x in uniq[i:i + 5000]]
            data = self._run("fetching L2 attributes", lambda c=chunk: l2c.get_l2data(
                c, attributes=["rep_coord_nm", "max_dt_nm", "size_nm3"]))
            if not isinstance(data, dict):
                raise self.connection.bad_answer("fetching L2 attributes", "the L2 cache answer is malformed")
            for k, v in data.items():
                if v and "rep_coord_nm" in v:
                    found[int(k)] = v
        keep = np.array([int(x) in found for x in l2_ids], dtype=bool)
        ids = l2_ids[keep]
        recs = [found[int(x)] for x in ids]
        xyz = np.array([r["rep_coord_nm"] for r in recs], dtype=np.float64).reshape(-1, 3)
        return pd.DataFrame({
            "l2_id": ids,
            "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
            "max_dt_nm": np.array([r.get("max_dt_nm", np.nan) for r in recs], dtype=np.float64),
            "size_nm3": np.array([r.get("size_nm3", np.nan) for r in recs], dtype=np.float64),
        })

    def lineage_graph(self, root_ids: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The full edit history around ``root_ids`` from the chunkedgraph.

        Returns
        -------
        (nodes, links)
            ``nodes``: ``root_id, created, operation_id`` (0 for roots not made by an edit);
            ``links``: ``parent_root_id, child_root_id``.
        """
        cg = self._cg
        ids = [int(x) for x in np.unique(np.asarray(root_ids, dtype=np.uint64))]
        graph = self._run("fetching lineage", lambda: cg.get_lineage_graph(ids))
        if not isinstance(graph, dict) or "nodes" not in graph or "links" not in graph:
            raise self.connection.bad_answer("fetching lineage", "the lineage graph is malformed")
        nodes = pd.DataFrame({
            "root_id": np.array([int(n["id"]) for n in graph["nodes"]], dtype=np.uint64),
            "created": pd.to_datetime([float(n["timestamp"]) for n in graph["nodes"]], unit="s", utc=True),
            "operation_id": np.array([int(n.get("operation_id") or 0) for n in graph["nodes"]], np.int64),
        })
        nodes["created"] = nodes["created"].dt.round("us").astype("datetime64[us, UTC]")
        links = pd.DataFrame({
            "parent_root_id": np.array([int(ln["source"]) for ln in graph["links"]], dtype=np.uint64),
            "child_root_id": np.array([int(ln["target"]) for ln in graph["links"]], dtype=np.uint64),
        })
        return nodes, links
