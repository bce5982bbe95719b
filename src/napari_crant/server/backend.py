"""The answers a CAVE-compatible server gives, computed from a snapshot.

:class:`SnapshotBackend` turns a :class:`~napari_crant.sources.snapshot.SnapshotSource` into the
primitives the CAVE services expose (materialization tables, chunkedgraph lookups, L2 cache
attributes). It knows nothing about HTTP: :mod:`napari_crant.server.app` does the wire format.

Synapse positions are served in voxels of the table's voxel resolution, as CAVE stores them.

The snapshot's annotation table is served as the materialization table
:data:`ANNOTATION_TABLE` (``cell_annotations_v1``): ``id, created, superceded_id, valid,
pt_supervoxel_id, pt_root_id`` (the supervoxel's root as of the queried moment, not the
possibly outdated recorded ``root_id``), ``pt_position_x/y/z`` (float voxels at the snapshot's
resolution, from the annotation's ``x, y, z`` nm; absent when the snapshot has no positions) and
the CRANTb annotation fields in the snapshot's column order. List-valued fields
(:data:`~napari_crant.snapshot.format.LIST_ANNOTATION_FIELDS`) are encoded by
:func:`~napari_crant.sources.cave.encode_list_field` (comma-joined; JSON if an element holds a
comma) and decoded by :func:`~napari_crant.sources.cave.decode_list_field`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.ids import in_sorted
from napari_crant.materialization import Materialization
from napari_crant.snapshot.format import LIST_ANNOTATION_FIELDS
from napari_crant.sources.cave import encode_list_field
from napari_crant.sources.snapshot import SnapshotSource

#: Columns of the served synapse table, in CAVE's order (positions split per axis).
SYNAPSE_TABLE_COLUMNS = (
    "id", "created", "superceded_id", "valid",
    "pre_pt_supervoxel_id", "pre_pt_root_id",
    "post_pt_supervoxel_id", "post_pt_root_id",
    "size",
    *(f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"),
)
_POSITION_PREFIXES = ("pre_pt_position", "post_pt_position", "ctr_pt_position")
_ID_COLUMNS = ("id", "pre_pt_supervoxel_id", "pre_pt_root_id", "post_pt_supervoxel_id", "post_pt_root_id",
               "pt_supervoxel_id", "pt_root_id")
#: Columns of the served nucleus table (positions in nm: the table's resolution is 1 x 1 x 1 nm).
NUCLEUS_TABLE_COLUMNS = ("id", "created", "superceded_id", "valid", "volume", "pt_supervoxel_id",
                         "pt_root_id", "pt_position_x", "pt_position_y", "pt_position_z")


#: Name under which the snapshot's annotations are served.
ANNOTATION_TABLE = "cell_annotations_v1"
#: CAVE bookkeeping columns that lead the served annotation table.
ANNOTATION_TABLE_LEAD = ("id", "created", "superceded_id", "valid", "pt_supervoxel_id", "pt_root_id")


class BackendError(ValueError):
    """A request the backend cannot answer (bad table, column, version...)."""


def epoch_to_timestamp(value: float | str | None) -> pd.Timestamp:
    """A chunkedgraph timestamp parameter (float epoch seconds, UTC) as a pd.Timestamp; ``None``: now."""
    if value is None or value == "":
        return pd.Timestamp.now(tz="UTC")
    us = round(float(value) * 1e6)
    return pd.Timestamp(us, unit="us", tz="UTC")


def cave_time_string(ts: pd.Timestamp) -> str:
    """``%Y-%m-%dT%H:%M:%S.%f`` in naive UTC, the format caveclient parses."""
    return ts.tz_convert("UTC").tz_localize(None).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _at(ts: pd.Timestamp, version: int | None = None) -> Materialization:
    return Materialization(ts, version, "server")


class SnapshotBackend:
    """CAVE answers over one snapshot.

    Parameters
    ----------
    source
        The snapshot.
    synapse_table
        Name under which the synapse table is served; defaults to the snapshot's
        ``info['synapse_table']`` or ``"synapses_v2"``.
    """

    def __init__(self, source: SnapshotSource, synapse_table: str | None = None):
        self.source = source
        self.synapse_table = synapse_table or source.info.get("synapse_table") or "synapses_v2"
        self.pcg_table = source.info.get("pcg_table") or "kronauer_ant_x1"
        self.nucleus_table = source.info.get("nucleus_table") or "nuclei_v1"
        self.annotation_table = ANNOTATION_TABLE
        roots = source.roots_table()
        self._root_created = pd.Series(
            pd.to_datetime(roots["created"], utc=True).to_numpy(), index=roots["root_id"].to_numpy(np.uint64)
        )
        self._root_ids = roots["root_id"].to_numpy(np.uint64)
        self._roots_by_id = roots.set_index("root_id")
        self._lineage = source.lineage()

    # -- versions ---------------------------------------------------------------------------
    def versions(self, expired: bool = True) -> list[int]:
        """Version numbers; without ``expired`` only the valid ones."""
        v = self.source.versions()
        if not expired:
            v = v[v["valid"]]
        return [int(x) for x in v["version"]]

    def version_metadata(self, version: int, datastack: str) -> dict[str, Any]:
        """The metadata record of one version (raises :class:`BackendError` if unknown)."""
        v = self.source.versions()
        row = v[v["version"] == int(version)]
        if row.empty:
            raise BackendError(f"version {version} not found")
        ts = pd.Timestamp(row["timestamp"].iloc[0])
        valid = bool(row["valid"].iloc[0])
        expires = ts + pd.Timedelta(days=3650 if valid else 1)
        return {
            "version": int(version), "id": int(version), "valid": valid, "datastack": datastack,
            "status": "AVAILABLE" if valid else "EXPIRED", "is_merged": True, "parent_version": None,
            "time_stamp": cave_time_string(ts), "expires_on": cave_time_string(expires),
        }

    def version_timestamp(self, version: int) -> pd.Timestamp:
        """When version ``version`` was materialized."""
        v = self.source.versions()
        row = v[v["version"] == int(version)]
        if row.empty:
            raise BackendError(f"version {version} not found")
        return pd.Timestamp(row["timestamp"].iloc[0]).tz_convert("UTC")

    @property
    def tables(self) -> list[str]:
        """Names of the served tables."""
        return [self.synapse_table, self.nucleus_table, self.annotation_table]

    def table_resolution(self, table: str) -> list[float]:
        """nm per unit of the table's positions."""
        self._check_table(table)
        if table == self.nucleus_table:
            return [1.0, 1.0, 1.0]
        return [float(x) for x in self.source.voxel_resolution]

    def table_count(self, table: str) -> int:
        """Rows of a served table."""
        self._check_table(table)
        if table == self.synapse_table:
            return len(self.source._synapses)
        if table == self.nucleus_table:
            return len(self.source.nuclei())
        return len(self.source.annotations())

    def table_metadata(self, table: str, datastack: str, version: int | None) -> dict[str, Any]:
        """The table metadata caveclient asks for before a query."""
        res = self.table_resolution(table)
        ts = self.version_timestamp(version) if version is not None else pd.Timestamp.now(tz="UTC")
        schema = {self.synapse_table: "synapse", self.nucleus_table: "nucleus_detection"}.get(
            table, "napari_crant_cell_annotation")
        return {
            "id": 1 + self.tables.index(table), "table_name": table, "schema": schema, "schema_type": schema,
            "reference_table": None, "description": f"{schema} table served from snapshot {self.source.name}",
            "voxel_resolution_x": res[0], "voxel_resolution_y": res[1], "voxel_resolution_z": res[2],
            "aligned_volume": datastack, "valid": True, "created": cave_time_string(ts),
            "annotation_table": table, "user_id": "napari-crant", "notice_text": None,
            "write_permission": "PRIVATE", "read_permission": "PUBLIC", "flat_segmentation_source": None,
            "segmentation_source": None, "table_name_ref": None,
        }

    def _check_table(self, table: str) -> None:
        if table not in self.tables:
            raise BackendError(f"table {table!r} not found (tables: {', '.join(self.tables)})")

    # -- materialization queries ------------------------------------------------------------
    def query_table(
        self,
        table: str,
        at: pd.Timestamp,
        filters: dict[str, dict[str, Any]],
        select_columns: list[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        desired_resolution: list[float] | None = None,
    ) -> tuple[pd.DataFrame, list[float]]:
        """Rows of a table with root IDs as of ``at``, filtered like CAVE does.

        Parameters
        ----------
        filters
            ``{"filter_in_dict": {col: [...]}, "filter_equal_dict": {col: v}, ...}`` (already
            unwrapped from the per-table level).
        select_columns
            Column subset (position columns expand to their ``_x/_y/_z`` parts).
        limit, offset
            Window on the rows sorted by ``id``.
        desired_resolution
            Scale positions to this resolution (nm per unit) instead of the table's voxels.

        Returns
        -------
        (DataFrame, resolution)
            The rows and the resolution their positions are in.
        """
        self._check_table(table)
        for key in filters:
            if key not in ("filter_in_dict", "filter_notin_dict", "filter_equal_dict", "filter_greater_dict",
                           "filter_less_dict", "filter_greater_equal_dict", "filter_less_equal_dict",
                           "filter_spatial_dict", "filter_regex_dict"):
                raise BackendError(f"unsupported filter {key!r}")
        if table == self.nucleus_table:
            df, prefixes = self._nucleus_frame(at), ("pt_position",)
        elif table == self.annotation_table:
            df = self._annotation_frame(at)
            prefixes = ("pt_position",) if "pt_position_x" in df.columns else ()
        else:
            df, prefixes = self._frame(self._candidate_rows(filters, at), at), _POSITION_PREFIXES
        df = _apply_filters(df, filters)
        df = df.sort_values("id", kind="stable").reset_index(drop=True)
        if offset:
            df = df.iloc[int(offset):]
        if limit is not None:
            df = df.iloc[: int(limit)]
        res = self.table_resolution(table)
        if desired_resolution is not None:
            scale = np.asarray(res) / np.asarray(desired_resolution, dtype=float)
            for p in prefixes:
                for i, a in enumerate("xyz"):
                    df[f"{p}_{a}"] = df[f"{p}_{a}"].astype(float) * scale[i]
            res = [float(x) for x in desired_resolution]
        if select_columns:
            cols: list[str] = []
            for c in select_columns:
                if c in prefixes:
                    cols += [f"{c}_{a}" for a in "xyz"]
                elif c in df.columns:
                    cols.append(c)
                else:
                    raise BackendError(f"column {c!r} not in table {table!r}")
            df = df[cols]
        return df.reset_index(drop=True), res

    def _candidate_rows(self, filters: dict[str, dict[str, Any]], at: pd.Timestamp) -> np.ndarray:
        """Synapse row numbers that can match the root filters (all rows if none narrows)."""
        src = self.source
        f_in = dict(filters.get("filter_in_dict") or {})
        for col, v in (filters.get("filter_equal_dict") or {}).items():
            f_in.setdefault(col, [v])
        best: np.ndarray | None = None
        for col, side in (("pre_pt_root_id", "pre"), ("post_pt_root_id", "post")):
            if col in f_in:
                ids = np.asarray([int(x) for x in f_in[col]], dtype=np.uint64)
                rows = np.unique(src._rows_for(ids, side))
                best = rows if best is None or len(rows) < len(best) else best
        if best is None:
            return np.arange(len(src._synapses), dtype=np.int64)
        return best

    def _frame(self, rows: np.ndarray, at: pd.Timestamp) -> pd.DataFrame:
        src = self.source
        s = src._synapses
        m = _at(at)
        pre_l2 = s["pre_pt_l2_id"][rows]
        post_l2 = s["post_pt_l2_id"][rows]
        n = len(rows)
        created = self._root_created.min() if len(self._root_created) else pd.Timestamp(0, tz="UTC")
        data: dict[str, Any] = {
            "id": s["id"][rows].astype(np.int64),
            "created": np.full(n, pd.Timestamp(created).tz_convert(None).to_datetime64(), "datetime64[us]"),
            "superceded_id": pd.array([None] * n, dtype="Int64"),
            "valid": np.ones(n, dtype=bool),
            "pre_pt_supervoxel_id": s["pre_pt_supervoxel_id"][rows].astype(np.int64),
            "pre_pt_root_id": src._roots_of_l2_or_zero(pre_l2, m).astype(np.int64),
            "post_pt_supervoxel_id": s["post_pt_supervoxel_id"][rows].astype(np.int64),
            "post_pt_root_id": src._roots_of_l2_or_zero(post_l2, m).astype(np.int64),
            "size": s["size"][rows].astype(np.int64),
        }
        for p in _POSITION_PREFIXES:
            for a in "xyz":
                data[f"{p}_{a}"] = s[f"{p}_{a}"][rows].astype(np.int64)
        return pd.DataFrame(data, columns=list(SYNAPSE_TABLE_COLUMNS))

    def _nucleus_frame(self, at: pd.Timestamp) -> pd.DataFrame:
        nuc = self.source.nuclei()
        svs = nuc["supervoxel_id"].to_numpy(np.uint64)
        n = len(nuc)
        created = self._root_created.min() if len(self._root_created) else pd.Timestamp(0, tz="UTC")
        data = {
            "id": nuc["nucleus_id"].to_numpy(np.uint64).astype(np.int64),
            "created": np.full(n, pd.Timestamp(created).tz_convert(None).to_datetime64(), "datetime64[us]"),
            "superceded_id": pd.array([None] * n, dtype="Int64"),
            "valid": np.ones(n, dtype=bool),
            "volume": nuc["volume_um3"].to_numpy(float) if "volume_um3" in nuc else np.full(n, np.nan),
            "pt_supervoxel_id": svs.astype(np.int64),
            "pt_root_id": self.source.roots_of_supervoxels(svs, _at(at)).astype(np.int64),
            **{f"pt_position_{a}": nuc[a].to_numpy(float) for a in "xyz"},
        }
        return pd.DataFrame(data, columns=list(NUCLEUS_TABLE_COLUMNS))

    def _annotation_frame(self, at: pd.Timestamp) -> pd.DataFrame:
        """The annotation table as CAVE rows, roots as of ``at`` (from each row's supervoxel)."""
        ann = self.source.annotations().reset_index(drop=True)
        n = len(ann)
        svs = (ann["supervoxel_id"].fillna(0).to_numpy().astype(np.uint64) if "supervoxel_id" in ann
               else np.zeros(n, np.uint64))
        created = self._root_created.min() if len(self._root_created) else pd.Timestamp(0, tz="UTC")
        data: dict[str, Any] = {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "created": np.full(n, pd.Timestamp(created).tz_convert(None).to_datetime64(), "datetime64[us]"),
            "superceded_id": pd.array([None] * n, dtype="Int64"),
            "valid": np.ones(n, dtype=bool),
            "pt_supervoxel_id": svs.astype(np.int64),
            "pt_root_id": self.source.roots_of_supervoxels(svs, _at(at)).astype(np.int64),
        }
        if all(a in ann.columns for a in "xyz"):
            res = np.asarray(self.source.voxel_resolution, dtype=float)
            for i, a in enumerate("xyz"):
                data[f"pt_position_{a}"] = ann[a].to_numpy(float) / res[i]
        for col in ann.columns:
            if col in ("root_id", "supervoxel_id", "x", "y", "z"):
                continue
            values = ann[col]
            if col in LIST_ANNOTATION_FIELDS:
                data[col] = pd.array([encode_list_field(v) for v in values], dtype=object)
            elif values.dtype == np.uint64:
                data[col] = values.to_numpy().astype(np.int64)
            else:
                data[col] = values.to_numpy()
        return pd.DataFrame(data)

    # -- chunkedgraph -----------------------------------------------------------------------
    def _l2_of_nodes(self, ids: np.ndarray) -> np.ndarray:
        """The L2 chunk standing for each node: itself, its chunk (supervoxel), a chunk of it (root)."""
        src = self.source
        ids = np.asarray(ids, dtype=np.uint64)
        out = src.l2_of_supervoxels(ids)
        l2col = src._l2["l2_id"]
        is_l2 = in_sorted(ids, l2col)
        out[is_l2] = ids[is_l2]
        rest = (out == 0) & (ids != 0)
        if rest.any():
            l2, owner = src.l2_ids_many(ids[rest])
            first = np.zeros(int(rest.sum()), dtype=np.uint64)
            if len(owner):
                uniq, idx = np.unique(owner, return_index=True)
                first[uniq] = l2[idx]
            out[rest] = first
        return out

    def roots(self, node_ids: np.ndarray, at: pd.Timestamp, stop_layer: int | None = None) -> np.ndarray:
        """Root of each node (supervoxel, L2 chunk or root) at ``at``; 0 if unknown.

        With ``stop_layer=2`` the L2 chunk of each supervoxel instead (L2 chunks map to
        themselves).
        """
        if stop_layer is not None and stop_layer <= 2:
            ids = np.asarray(node_ids, dtype=np.uint64)
            if stop_layer == 1:
                return ids.copy()
            out = self.source.l2_of_supervoxels(ids)
            is_l2 = in_sorted(ids, self.source._l2["l2_id"])
            out[is_l2] = ids[is_l2]
            return out
        l2 = self._l2_of_nodes(node_ids)
        out = np.zeros(len(l2), dtype=np.uint64)
        nz = l2 != 0
        out[nz] = self.source.roots_of_l2(l2[nz], _at(at))
        return out

    def is_latest(self, root_ids: np.ndarray, at: pd.Timestamp) -> np.ndarray:
        """Whether each root is alive at ``at``."""
        _, alive = self.source.root_status(np.asarray(root_ids, dtype=np.uint64), _at(at))
        return alive

    def known_roots(self, ids: np.ndarray) -> np.ndarray:
        """Which IDs are roots of this dataset (at any time)."""
        return in_sorted(np.asarray(ids, dtype=np.uint64), self._root_ids)

    def root_timestamps(self, root_ids: np.ndarray, latest: bool, at: pd.Timestamp) -> list[float]:
        """Creation time (or, with ``latest``, last valid time before ``at``) in epoch seconds."""
        r = self._roots_by_id
        out = []
        for rid in np.asarray(root_ids, dtype=np.uint64):
            if rid not in r.index:
                raise BackendError(f"{int(rid)} is not a root ID")
            row = r.loc[rid]
            if latest:
                exp = row["expired"]
                t = at if pd.isna(exp) else min(pd.Timestamp(exp), at)
            else:
                t = pd.Timestamp(row["created"])
            out.append(t.timestamp())
        return out

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

        seen: set[int] = set()
        stack = [int(r) for r in root_ids if np.uint64(r) in roots.index]
        links: list[dict[str, int]] = []
        while stack:
            r = stack.pop()
            if r in seen:
                continue
            seen.add(r)
            for c in children.get(r, []):
                if future is None or created(c) <= future:
                    links.append({"source": r, "target": c})
                    stack.append(c)
            if past is None or created(r) >= past:
                for p in parents.get(r, []):
                    links.append({"source": p, "target": r})
                    stack.append(p)
        uniq = {(d["source"], d["target"]) for d in links}
        nodes = []
        for r in sorted(seen):
            row = roots.loc[np.uint64(r)]
            node: dict[str, Any] = {"id": r, "timestamp": pd.Timestamp(row["created"]).timestamp()}
            if int(row["operation_id"]):
                node["operation_id"] = int(row["operation_id"])
            nodes.append(node)
        return {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes,
                "links": [{"source": s, "target": t} for s, t in sorted(uniq)]}

    def past_id_mapping(self, root_ids: np.ndarray, past: pd.Timestamp,
                        future: pd.Timestamp) -> dict[str, Any]:
        """``past_id_map`` / ``future_id_map`` between ``past`` and ``future``, by shared L2 chunks."""
        past_map: dict[str, list[int]] = {}
        future_map: dict[str, list[int]] = {}
        src = self.source
        for rid in np.asarray(root_ids, dtype=np.uint64):
            l2 = src.l2_ids(int(rid))
            then = np.unique(src.roots_of_l2(l2, _at(past)))
            then = [int(x) for x in then if x != 0]
            past_map[str(int(rid))] = then
            for p in then:
                later = np.unique(src.roots_of_l2(src.l2_ids(p), _at(future)))
                future_map.setdefault(str(p), [])
                future_map[str(p)] = sorted(set(future_map[str(p)]) | {int(x) for x in later if x != 0})
        return {"past_id_map": past_map, "future_id_map": future_map}

    def leaves(self, node_id: int, stop_layer: int) -> list[int]:
        """Leaves of a root at layer 2 (L2 chunks) or 1 (supervoxels)."""
        src = self.source
        if not self.known_roots(np.array([node_id], np.uint64))[0]:
            raise BackendError(f"{node_id} is not a root ID")
        l2 = src.l2_ids(int(node_id))
        if stop_layer >= 2:
            return [int(x) for x in l2]
        sv = src._supervoxels
        keep = np.isin(sv["l2_id"], l2)
        return [int(x) for x in np.sort(sv["sv_id"][keep])]

    def lvl2_graph(self, root_id: int) -> list[list[int]]:
        """Edges of a root's L2 graph."""
        if not self.known_roots(np.array([root_id], np.uint64))[0]:
            raise BackendError(f"{root_id} is not a root ID")
        return [[int(a), int(b)] for a, b in self.source.l2_graph(int(root_id))]

    def valid_nodes(self, ids: np.ndarray, start: pd.Timestamp | None, end: pd.Timestamp | None) -> list[int]:
        """Root IDs among ``ids`` created between ``start`` and ``end``."""
        ids = np.asarray(ids, dtype=np.uint64)
        out = []
        for rid in ids[self.known_roots(ids)]:
            t = pd.Timestamp(self._root_created.loc[rid])
            if (start is None or t >= start) and (end is None or t <= end):
                out.append(int(rid))
        return out

    # -- L2 cache ---------------------------------------------------------------------------
    def l2_attributes(self, l2_ids: list[int], names: list[str] | None) -> dict[str, Any]:
        """``{str(l2): {attribute: value}}``; unknown chunks map to ``{}``."""
        ids = np.asarray([int(x) for x in l2_ids], dtype=np.uint64)
        df = self.source.l2_attributes(ids).set_index("l2_id")
        names = names or ["rep_coord_nm", "max_dt_nm", "size_nm3"]
        out: dict[str, Any] = {}
        for i in ids:
            if i not in df.index:
                out[str(int(i))] = {}
                continue
            row = df.loc[i]
            rec: dict[str, Any] = {}
            for n in names:
                if n == "rep_coord_nm":
                    rec[n] = [float(row["x"]), float(row["y"]), float(row["z"])]
                elif n in ("max_dt_nm", "size_nm3"):
                    rec[n] = float(row[n])
            out[str(int(i))] = rec
        return out

    def skeleton(self, root_id: int) -> dict[str, Any]:
        """An L2 skeleton of a root in SkeletonService's flat-dict layout (nm).

        Nodes are L2 chunks at their representative points, edges the minimum spanning tree of the
        L2 graph (see :func:`napari_crant.queries.skeleton.skeleton_nodes`); this is napari-crant's
        L2 skeleton, not pcg_skel's.
        """
        from napari_crant.queries.skeleton import skeleton_nodes

        if not self.known_roots(np.array([root_id], np.uint64))[0]:
            raise BackendError(f"{root_id} is not a root ID")
        nodes = skeleton_nodes(self.source, int(root_id))
        parent = nodes["parent_id"].to_numpy(np.int64)
        child = np.flatnonzero(parent >= 0)
        roots = np.flatnonzero(parent < 0)
        return {
            "vertices": nodes[["x", "y", "z"]].to_numpy(float).tolist(),
            "edges": [[int(c), int(parent[c])] for c in child],
            "root": int(roots[0]) if len(roots) else 0,
            "radius": nodes["radius"].to_numpy(float).tolist(),
            "compartment": [3] * len(nodes),
            "lvl2_ids": [int(x) for x in nodes["l2_id"]],
            "meta": {"root_id": int(root_id), "skeleton_type": "napari-crant-l2", "space": "l2"},
        }

    def n_layers(self) -> int:
        return int(self.source.info.get("n_layers", 7))


def _apply_filters(df: pd.DataFrame, filters: dict[str, dict[str, Any]]) -> pd.DataFrame:
    keep = np.ones(len(df), dtype=bool)

    def col(name: str) -> pd.Series:
        if name not in df.columns:
            raise BackendError(f"column {name!r} not in table")
        return df[name]

    def vals(name: str, v: Any) -> Any:
        if name in _ID_COLUMNS:
            return np.asarray([int(x) for x in v], dtype=np.int64) if isinstance(v, list | tuple) else int(v)
        return v

    for name, v in (filters.get("filter_in_dict") or {}).items():
        keep &= col(name).isin(vals(name, list(v))).to_numpy()
    for name, v in (filters.get("filter_notin_dict") or {}).items():
        keep &= ~col(name).isin(vals(name, list(v))).to_numpy()
    for name, v in (filters.get("filter_equal_dict") or {}).items():
        keep &= (col(name) == vals(name, v)).to_numpy()
    for key, op in (("filter_greater_dict", np.greater), ("filter_less_dict", np.less),
                    ("filter_greater_equal_dict", np.greater_equal),
                    ("filter_less_equal_dict", np.less_equal)):
        for name, v in (filters.get(key) or {}).items():
            keep &= op(col(name).to_numpy(), vals(name, v))
    for name, box in (filters.get("filter_spatial_dict") or {}).items():
        lo, hi = np.asarray(box[0], float), np.asarray(box[1], float)
        xyz = np.stack([col(f"{name}_{a}").to_numpy(float) for a in "xyz"], axis=1)
        keep &= ((xyz >= lo) & (xyz < hi)).all(axis=1)
    for name, pattern in (filters.get("filter_regex_dict") or {}).items():
        keep &= col(name).astype(str).str.match(pattern).to_numpy()
    return df[keep]

