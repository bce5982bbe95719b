"""Chunkedgraph answers over a snapshot: roots of nodes, root history, leaves and L2 graphs.

Every lookup of many IDs works on the distinct IDs and spreads the answer back in request order,
so a request repeating one ID costs what the ID alone costs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.ids import in_sorted, unique_inverse
from napari_crant.server.backend.common import BackendError, at_moment
from napari_crant.sources.snapshot import SnapshotSource

#: Layers reported when neither the snapshot nor its root IDs say (CRANTb's chunkedgraph has 8).
DEFAULT_N_LAYERS = 8
#: Bits of an ID holding its layer (PyChunkedGraph's ``n_bits_for_layer_id``).
LAYER_ID_BITS = 8
#: Bits per axis of the chunk coordinate in IDs (the demo's and tiny snapshots' encoding).
SPATIAL_BITS = 10


class ChunkedGraphBackend:
    """Chunkedgraph answers over one snapshot.

    Parameters
    ----------
    source
        The snapshot.
    """

    def __init__(self, source: SnapshotSource):
        self.source = source
        self.pcg_table = source.info.get("pcg_table") or "kronauer_ant_x1"
        roots = source.roots_table()
        self._root_created = pd.Series(
            pd.to_datetime(roots["created"], utc=True).to_numpy(), index=roots["root_id"].to_numpy(np.uint64)
        )
        self._root_ids = np.sort(roots["root_id"].to_numpy(np.uint64))
        self._roots_by_id = roots.set_index("root_id")
        self._lineage = source.lineage()

    @property
    def n_layers(self) -> int:
        """Layers of the chunkedgraph (supervoxels are layer 1, L2 chunks layer 2, roots the top).

        The snapshot's ``info['n_layers']`` if given, else the layer the root IDs carry in their
        top 8 bits (8 for CRANTb-like IDs), else :data:`DEFAULT_N_LAYERS`.
        """
        if "n_layers" in self.source.info:
            return int(self.source.info["n_layers"])
        layers = np.unique(self._root_ids >> np.uint64(64 - LAYER_ID_BITS))
        layers = layers[layers >= 3]
        return int(layers.max()) if len(layers) else DEFAULT_N_LAYERS

    def graph_info(self) -> dict[str, Any]:
        """The ``graph`` entry of the segmentation info, consistent with the IDs' encoding.

        As PyChunkedGraph's ``dataset_info``: ``chunk_size`` (voxels of an L2 chunk),
        ``n_layers``, ``n_bits_for_layer_id``, ``spatial_bit_masks`` (bits per axis of the chunk
        coordinate, per layer, as cloud-volume's graphene metadata decodes them), ``fan_out``.
        """
        chunk = self.source.info.get("chunk_size_voxels") or [256, 256, 512]
        return {
            "chunk_size": [int(c) for c in chunk], "bounding_box": [2048, 2048, 512],
            "n_bits_for_layer_id": LAYER_ID_BITS, "cv_mip": 0, "n_layers": self.n_layers,
            "spatial_bit_masks": {str(layer): SPATIAL_BITS for layer in range(1, self.n_layers + 1)},
            "fan_out": 2,
        }

    def check_layer(self, layer: int, name: str = "stop_layer") -> int:
        """``layer`` if it is a layer of this chunkedgraph; else :class:`BackendError`."""
        if not 1 <= layer <= self.n_layers:
            raise BackendError(f"{name} must be a layer from 1 to {self.n_layers}, not {layer}")
        return layer

    def known_roots(self, ids: np.ndarray) -> np.ndarray:
        """Which IDs are roots of this dataset (at any time)."""
        return in_sorted(np.asarray(ids, dtype=np.uint64), self._root_ids)

    def _check_root(self, root_id: int) -> None:
        if not self.known_roots(np.array([root_id], np.uint64))[0]:
            raise BackendError(f"{root_id} is not a root ID")

    def _first_l2_of_roots(self, ids: np.ndarray) -> np.ndarray:
        """One L2 chunk of each root (0 for IDs that are not roots), without listing them all."""
        table = self.source._root_l2
        col = table["root_id"]
        if not len(col):
            return np.zeros(len(ids), np.uint64)
        pos = np.minimum(np.searchsorted(col, ids, "left"), len(col) - 1)
        found = (col[pos] == ids) & (ids != 0)
        return np.where(found, table["l2_id"][pos], np.uint64(0)).astype(np.uint64)

    def _l2_of_nodes(self, ids: np.ndarray) -> np.ndarray:
        """The L2 chunk standing for each node: itself, its chunk (supervoxel), a chunk of it (root)."""
        src = self.source
        out = src.l2_of_supervoxels(ids)
        is_l2 = in_sorted(ids, src._l2["l2_id"])
        out[is_l2] = ids[is_l2]
        rest = (out == 0) & (ids != 0)
        out[rest] = self._first_l2_of_roots(ids[rest])
        return out

    def roots(self, node_ids: np.ndarray, at: pd.Timestamp, stop_layer: int | None = None) -> np.ndarray:
        """Root of each node (supervoxel, L2 chunk or root) at ``at``; 0 if unknown.

        With ``stop_layer=2`` the L2 chunk of each supervoxel instead (L2 chunks map to
        themselves), with ``stop_layer=1`` the IDs themselves.
        """
        if stop_layer is not None:
            self.check_layer(stop_layer)
        uniq, inverse = unique_inverse(np.asarray(node_ids, dtype=np.uint64))
        if stop_layer == 1:
            return uniq[inverse]
        if stop_layer == 2:
            out = self.source.l2_of_supervoxels(uniq)
            is_l2 = in_sorted(uniq, self.source._l2["l2_id"])
            out[is_l2] = uniq[is_l2]
            return out[inverse]
        l2 = self._l2_of_nodes(uniq)
        out = np.zeros(len(l2), dtype=np.uint64)
        nz = l2 != 0
        out[nz] = self.source.roots_of_l2(l2[nz], at_moment(at))
        return out[inverse]

    def is_latest(self, root_ids: np.ndarray, at: pd.Timestamp) -> np.ndarray:
        """Whether each root is alive at ``at``."""
        uniq, inverse = unique_inverse(np.asarray(root_ids, dtype=np.uint64))
        _, alive = self.source.root_status(uniq, at_moment(at))
        return np.asarray(alive, dtype=bool)[inverse]

    def root_timestamps(self, root_ids: np.ndarray, latest: bool, at: pd.Timestamp) -> list[float]:
        """Creation time (or, with ``latest``, last valid time before ``at``) in epoch seconds."""
        ids = np.asarray(root_ids, dtype=np.uint64)
        unknown = ids[~self.known_roots(ids)]
        if len(unknown):
            raise BackendError(f"{int(unknown[0])} is not a root ID")
        uniq, inverse = unique_inverse(ids)
        table = self.source._roots
        pos = np.searchsorted(table["root_id"], uniq)
        if latest:
            at_ns = pd.Timestamp(at).as_unit("ns").value
            limit_us = np.iinfo(np.int64).max // 1000  # "never expired" lies beyond it
            expired_us = np.minimum(table["expired_us"][pos], limit_us)
            ns = np.minimum(expired_us * 1000, at_ns).tolist()
        else:
            ns = (table["created_us"][pos] * 1000).tolist()
        seconds = [round(v / 1e9, 6) for v in ns]  # as pd.Timestamp.timestamp() rounds
        return [seconds[i] for i in inverse]

    def lineage_graph(self, root_ids: np.ndarray, past: pd.Timestamp | None,
                      future: pd.Timestamp | None) -> dict[str, Any]:
        """The networkx node-link lineage graph of ``root_ids`` between ``past`` and ``future``.

        Links point from parent to child, as in PyChunkedGraph.
        """
        lin = self._lineage
        roots = self._roots_by_id
        parents: dict[int, list[int]] = {}
        children: dict[int, list[int]] = {}
        for p, c in zip(lin["parent_root_id"].to_numpy(np.uint64), lin["child_root_id"].to_numpy(np.uint64),
                        strict=True):
            children.setdefault(int(p), []).append(int(c))
            parents.setdefault(int(c), []).append(int(p))

        def created(r: int) -> pd.Timestamp:
            return pd.Timestamp(roots.loc[np.uint64(r), "created"])

        ids = np.unique(np.asarray(root_ids, dtype=np.uint64))
        seen: set[int] = set()
        stack = [int(r) for r in ids[self.known_roots(ids)]]
        links: set[tuple[int, int]] = set()
        while stack:
            r = stack.pop()
            if r in seen:
                continue
            seen.add(r)
            for c in children.get(r, []):
                if future is None or created(c) <= future:
                    links.add((r, c))
                    stack.append(c)
            if past is None or created(r) >= past:
                for p in parents.get(r, []):
                    links.add((p, r))
                    stack.append(p)
        nodes = []
        for r in sorted(seen):
            row = roots.loc[np.uint64(r)]
            node: dict[str, Any] = {"id": r, "timestamp": pd.Timestamp(row["created"]).timestamp()}
            if int(row["operation_id"]):
                node["operation_id"] = int(row["operation_id"])
            nodes.append(node)
        return {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes,
                "links": [{"source": s, "target": t} for s, t in sorted(links)]}

    def past_id_mapping(self, root_ids: np.ndarray, past: pd.Timestamp,
                        future: pd.Timestamp) -> dict[str, Any]:
        """``past_id_map`` / ``future_id_map`` between ``past`` and ``future``, as PyChunkedGraph.

        ``past_id_map``: for each root, the roots at ``past`` that held parts of it (by shared L2
        chunks; IDs that are not roots map to an empty list). ``future_id_map``: for each of
        those past roots, ONE root: the single root its history leads to by ``future`` when that
        history holds only merges (PyChunkedGraph's ``SegmentHistory.past_future_id_mapping``);
        a past root that was split (or whose history branches) is left out, and clients look
        its rows up by supervoxel instead.
        """
        past_map: dict[str, list[int]] = {}
        src = self.source
        ids = np.unique(np.asarray(root_ids, dtype=np.uint64))
        known = self.known_roots(ids)
        for rid in ids[~known]:
            past_map[str(int(rid))] = []
        past_ids: set[int] = set()
        for rid in ids[known]:
            then = np.unique(src.roots_of_l2(src.l2_ids(int(rid)), at_moment(past)))
            then = [int(x) for x in then if x != 0]
            past_map[str(int(rid))] = then
            past_ids.update(then)
        return {"past_id_map": past_map, "future_id_map": self._future_id_map(sorted(past_ids), future)}

    def _future_id_map(self, past_ids: list[int], future: pd.Timestamp) -> dict[str, int]:
        """The one root each past root becomes by ``future`` through merges only (see above)."""
        graph = self.lineage_graph(np.array(past_ids, dtype=np.uint64), None, future)
        children: dict[int, list[int]] = {}
        in_degree: dict[int, int] = {}
        for link in graph["links"]:
            children.setdefault(link["source"], []).append(link["target"])
            in_degree[link["target"]] = in_degree.get(link["target"], 0) + 1
        out: dict[str, int] = {}
        for p in past_ids:
            descendants, stack = {p}, [p]
            while stack:
                for c in children.get(stack.pop(), []):
                    if c not in descendants:
                        descendants.add(c)
                        stack.append(c)
            out_degrees = {d: len(children.get(d, [])) for d in descendants}
            ends = [d for d, k in out_degrees.items() if k == 0]
            if max(out_degrees.values()) >= 2 or len(ends) != 1:
                continue  # split or branching history: no single successor
            steps = [children[d][0] for d, k in out_degrees.items() if k == 1]
            if any(in_degree.get(c, 0) == 1 for c in steps):
                continue  # an edit with one parent and one child is not a merge
            out[str(p)] = ends[0]
        return out

    def leaves(self, node_id: int, stop_layer: int) -> list[int]:
        """Leaves of a root at layer 2 (L2 chunks) or 1 (supervoxels).

        Layers 3 to ``n_layers - 1`` are not modelled: their leaves are answered with the L2
        chunks (what a majority vote such as ``suggest_latest_roots`` needs); ``n_layers``
        answers the root itself.
        """
        self.check_layer(stop_layer)
        self._check_root(node_id)
        if stop_layer >= self.n_layers:
            return [int(node_id)]
        src = self.source
        l2 = src.l2_ids(int(node_id))
        if stop_layer >= 2:
            return [int(x) for x in l2]
        sv = src._supervoxels
        keep = np.isin(sv["l2_id"], l2)
        return [int(x) for x in np.sort(sv["sv_id"][keep])]

    def leaves_many(self, node_ids: np.ndarray, stop_layer: int) -> dict[str, list[int]]:
        """:meth:`leaves` of several roots, keyed by the root as a decimal string.

        Raises
        ------
        BackendError
            For an ID that is not a root (named), as :meth:`leaves` does.
        """
        self.check_layer(stop_layer)
        ids = np.unique(np.asarray(node_ids, dtype=np.uint64))
        unknown = ids[~self.known_roots(ids)]
        if len(unknown):
            raise BackendError(f"{int(unknown[0])} is not a root ID")
        if stop_layer >= self.n_layers:
            return {str(int(r)): [int(r)] for r in ids}
        if stop_layer == 1:
            return {str(int(r)): self.leaves(int(r), 1) for r in ids}
        l2, owner = self.source.l2_ids_many(ids)
        order = np.lexsort((l2, owner))
        l2, owner = np.asarray(l2, np.uint64)[order], np.asarray(owner)[order]
        bounds = np.searchsorted(owner, np.arange(len(ids) + 1))
        return {str(int(r)): l2[bounds[i]:bounds[i + 1]].tolist() for i, r in enumerate(ids)}

    def lvl2_graph(self, root_id: int) -> list[list[int]]:
        """Edges of a root's L2 graph."""
        self._check_root(root_id)
        return [[int(a), int(b)] for a, b in self.source.l2_graph(int(root_id))]

    def delta_roots(self, past: pd.Timestamp, future: pd.Timestamp) -> dict[str, list[int]]:
        """Roots that expired (``old_roots``) and were created (``new_roots``) in ``(past, future]``."""
        roots = self._roots_by_id
        created = pd.to_datetime(roots["created"], utc=True)
        expired = pd.to_datetime(roots["expired"], utc=True)
        ids = roots.index.to_numpy(np.uint64)
        new = ids[((created > past) & (created <= future)).to_numpy()]
        old = ids[((expired > past) & (expired <= future)).fillna(False).to_numpy(dtype=bool)]
        return {"old_roots": [int(x) for x in np.sort(old)], "new_roots": [int(x) for x in np.sort(new)]}

    def oldest_timestamp(self) -> pd.Timestamp:
        """When the oldest root was created (the start of the graph's history)."""
        created = pd.to_datetime(self._roots_by_id["created"], utc=True)
        return pd.Timestamp(created.min()) if len(created) else pd.Timestamp(0, tz="UTC")

    def valid_nodes(self, ids: np.ndarray, start: pd.Timestamp | None, end: pd.Timestamp | None) -> list[int]:
        """Root IDs among ``ids`` created between ``start`` and ``end`` (each once, in request order)."""
        ids = np.asarray(ids, dtype=np.uint64)
        roots = ids[self.known_roots(ids)]
        _, first = np.unique(roots, return_index=True)
        roots = roots[np.sort(first)]
        table = self.source._roots
        created_ns = table["created_us"][np.searchsorted(table["root_id"], roots)] * 1000
        keep = np.ones(len(roots), dtype=bool)
        if start is not None:
            keep &= created_ns >= pd.Timestamp(start).as_unit("ns").value
        if end is not None:
            keep &= created_ns <= pd.Timestamp(end).as_unit("ns").value
        return roots[keep].tolist()
