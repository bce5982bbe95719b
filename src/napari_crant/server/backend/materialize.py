"""Materialization answers over a snapshot: versions, table metadata and filtered table rows.

Served tables: the synapses (positions in nm, as CRANTb's production ``synapses_v2`` serves
them: the table's resolution is 1 x 1 x 1 nm; a query with ``desired_resolution=[8, 8, 42]``
gets image voxels), the nuclei (nm; the table's resolution is 1 x 1 x 1 nm) and the snapshot's annotations as
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

from napari_crant.server.backend.common import BackendError, UnknownTableError, at_moment, cave_time_string
from napari_crant.server.backend.filters import apply_filters, check_filter_shapes, filter_ids
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
#: Columns of the served nucleus table (positions in nm: the table's resolution is 1 x 1 x 1 nm).
NUCLEUS_TABLE_COLUMNS = ("id", "created", "superceded_id", "valid", "volume", "pt_supervoxel_id",
                         "pt_root_id", "pt_position_x", "pt_position_y", "pt_position_z")
#: Name under which the snapshot's annotations are served.
ANNOTATION_TABLE = "cell_annotations_v1"
#: CAVE bookkeeping columns that lead the served annotation table.
ANNOTATION_TABLE_LEAD = ("id", "created", "superceded_id", "valid", "pt_supervoxel_id", "pt_root_id")
#: Version numbers beyond this are unknown without looking (CAVE's are small integers).
_MAX_VERSION = 2**31


class MaterializeBackend:
    """Materialization answers over one snapshot.

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
        self.nucleus_table = source.info.get("nucleus_table") or "nuclei_v1"
        self.annotation_table = ANNOTATION_TABLE
        created = pd.to_datetime(source.roots_table()["created"], utc=True)
        first = created.min() if len(created) else pd.Timestamp(0, tz="UTC")
        self._created = pd.Timestamp(first).tz_convert(None).to_datetime64()

    # -- versions ---------------------------------------------------------------------------
    def versions(self, expired: bool = True) -> list[int]:
        """Version numbers; without ``expired`` only the valid ones."""
        v = self.source.versions()
        if not expired:
            v = v[v["valid"]]
        return [int(x) for x in v["version"]]

    def _version_row(self, version: int) -> pd.DataFrame:
        v = self.source.versions()
        row = v[v["version"] == int(version)] if 0 <= int(version) < _MAX_VERSION else v.iloc[:0]
        if row.empty:
            raise BackendError(f"version {version} not found (versions: {self.versions()})")
        return row

    def version_metadata(self, version: int, datastack: str) -> dict[str, Any]:
        """The metadata record of one version (raises :class:`BackendError` if unknown)."""
        row = self._version_row(version)
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
        return pd.Timestamp(self._version_row(version)["timestamp"].iloc[0]).tz_convert("UTC")

    # -- tables -----------------------------------------------------------------------------
    @property
    def tables(self) -> list[str]:
        """Names of the served tables."""
        return [self.synapse_table, self.nucleus_table, self.annotation_table]

    def check_table(self, table: str) -> None:
        """Raise :class:`UnknownTableError` unless ``table`` is served."""
        if table not in self.tables:
            raise UnknownTableError(f"table {table!r} not found (tables: {', '.join(self.tables)})")

    def table_resolution(self, table: str) -> list[float]:
        """nm per unit of the table's positions."""
        self.check_table(table)
        if table == self.annotation_table:
            return [float(x) for x in self.source.voxel_resolution]
        return [1.0, 1.0, 1.0]  # synapses and nuclei are stored in nm, as on CRANTb

    def table_count(self, table: str) -> int:
        """Rows of a served table."""
        self.check_table(table)
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

    # -- queries ----------------------------------------------------------------------------
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
        table
            A served table.
        at
            The moment root IDs are given for.
        filters
            ``{"filter_in_dict": {col: [...]}, "filter_equal_dict": {col: v}, ...}`` (already
            unwrapped from the per-table level).
        select_columns
            Column subset (position columns expand to their ``_x/_y/_z`` parts).
        limit, offset
            Window (both >= 0) on the rows sorted by ``id``.
        desired_resolution
            Scale positions to this resolution (three positive nm per unit) instead of the
            table's voxels.

        Returns
        -------
        (DataFrame, resolution)
            The rows and the resolution their positions are in.

        Raises
        ------
        BackendError
            An unknown table, filter or column, or a value that does not suit its column.
        """
        self.check_table(table)
        check_filter_shapes(filters)
        if table == self.nucleus_table:
            df, prefixes = self._nucleus_frame(at), ("pt_position",)
        elif table == self.annotation_table:
            df = self._annotation_frame(at)
            prefixes = ("pt_position",) if "pt_position_x" in df.columns else ()
        elif not any(filters.values()):
            # No filter: only the rows of the window are built (memory bounded by limit/row cap).
            syn = self.source._synapses
            syn.prefetch("id", 0, len(syn))  # a scan of a table mapped for random access: read ahead
            ids = np.asarray(syn["id"])
            window = _window(len(ids), offset, limit)
            rows = (np.arange(len(ids))[window] if bool(np.all(ids[1:] >= ids[:-1]))
                    else np.argsort(ids, kind="stable")[window])
            df, prefixes = self._synapse_frame(rows, at), _POSITION_PREFIXES
            offset, limit = 0, None
        else:
            df, prefixes = self._synapse_frame(self._candidate_rows(filters), at), _POSITION_PREFIXES
        df = apply_filters(df, filters)
        df = df.sort_values("id", kind="stable").reset_index(drop=True)
        df = df.iloc[_window(len(df), offset, limit)]
        res = self.table_resolution(table)
        if desired_resolution is not None:
            scale = np.asarray(res) / np.asarray(desired_resolution, dtype=float)
            df = df.copy()
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
                    raise BackendError(f"select_columns: no column {c!r} in table {table!r}")
            df = df[cols]
        return df.reset_index(drop=True), res

    def _candidate_rows(self, filters: dict[str, dict[str, Any]]) -> np.ndarray:
        """Synapse row numbers that can match the root filters (all rows if none narrows)."""
        src = self.source
        best: np.ndarray | None = None
        for col, side in (("pre_pt_root_id", "pre"), ("post_pt_root_id", "post")):
            ids = filter_ids(filters, col)
            if ids is not None:
                rows = np.unique(src._rows_for(np.unique(ids), side))
                best = rows if best is None or len(rows) < len(best) else best
        if best is None:
            return np.arange(len(src._synapses), dtype=np.int64)
        return best

    def _bookkeeping(self, n: int) -> dict[str, Any]:
        return {
            "created": np.full(n, self._created, "datetime64[us]"),
            "superceded_id": pd.array([None] * n, dtype="Int64"),
            "valid": np.ones(n, dtype=bool),
        }

    def _synapse_frame(self, rows: np.ndarray, at: pd.Timestamp) -> pd.DataFrame:
        src = self.source
        s = src._synapses
        m = at_moment(at)
        data: dict[str, Any] = {
            "id": s["id"][rows].astype(np.int64),
            **self._bookkeeping(len(rows)),
            "pre_pt_supervoxel_id": s["pre_pt_supervoxel_id"][rows].astype(np.int64),
            "pre_pt_root_id": src._roots_of_l2_or_zero(s["pre_pt_l2_id"][rows], m).astype(np.int64),
            "post_pt_supervoxel_id": s["post_pt_supervoxel_id"][rows].astype(np.int64),
            "post_pt_root_id": src._roots_of_l2_or_zero(s["post_pt_l2_id"][rows], m).astype(np.int64),
            "size": s["size"][rows].astype(np.int64),
        }
        res = np.asarray(src.voxel_resolution, dtype=float)
        for p in _POSITION_PREFIXES:
            for i, a in enumerate("xyz"):
                # the snapshot stores integer voxels; CRANTb's table holds nm
                data[f"{p}_{a}"] = np.rint(s[f"{p}_{a}"][rows] * res[i]).astype(np.int64)
        return pd.DataFrame(data, columns=list(SYNAPSE_TABLE_COLUMNS))

    def _nucleus_frame(self, at: pd.Timestamp) -> pd.DataFrame:
        nuc = self.source.nuclei()
        svs = nuc["supervoxel_id"].to_numpy(np.uint64)
        n = len(nuc)
        data = {
            "id": nuc["nucleus_id"].to_numpy(np.uint64).astype(np.int64),
            **self._bookkeeping(n),
            "volume": nuc["volume_um3"].to_numpy(float) if "volume_um3" in nuc else np.full(n, np.nan),
            "pt_supervoxel_id": svs.astype(np.int64),
            "pt_root_id": self.source.roots_of_supervoxels(svs, at_moment(at)).astype(np.int64),
            **{f"pt_position_{a}": nuc[a].to_numpy(float) for a in "xyz"},
        }
        return pd.DataFrame(data, columns=list(NUCLEUS_TABLE_COLUMNS))

    def _annotation_frame(self, at: pd.Timestamp) -> pd.DataFrame:
        """The annotation table as CAVE rows, roots as of ``at`` (from each row's supervoxel)."""
        ann = self.source.annotations().reset_index(drop=True)
        n = len(ann)
        svs = (ann["supervoxel_id"].fillna(0).to_numpy().astype(np.uint64) if "supervoxel_id" in ann
               else np.zeros(n, np.uint64))
        data: dict[str, Any] = {
            "id": np.arange(1, n + 1, dtype=np.int64),
            **self._bookkeeping(n),
            "pt_supervoxel_id": svs.astype(np.int64),
            "pt_root_id": self.source.roots_of_supervoxels(svs, at_moment(at)).astype(np.int64),
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


def _window(n: int, offset: int, limit: int | None) -> slice:
    """The rows ``offset`` to ``offset + limit`` of ``n``, clipped (both may exceed ``n``)."""
    start = min(int(offset), n)
    return slice(start, n if limit is None else min(start + int(limit), n))
