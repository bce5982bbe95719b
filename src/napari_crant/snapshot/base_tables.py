"""Every table of a snapshot but the synapses, written one table at a time as it is handed over.

:class:`BaseTablesWriter` writes each table the moment it is :meth:`~BaseTablesWriter.put`,
so a producer can free it right away (the demo generator hands its tables over as its
stages make them, and never holds them all at once). The large mapped tables are sorted
through an index and written a slice of rows at a time (:data:`SLICE_ROWS`), so a table
costs one index and one slice beyond its own columns, not a sorted copy; ``supervoxels``,
``root_l2`` and ``l2_roots`` are sorted on disk in runs of :data:`RUN_ROWS` rows
(:class:`~napari_crant.snapshot.external_sort.ExternalSorter`), so only the sorted keys the
synapse files need are held whole. The files are byte for byte what sorting the whole frame
(stably) and writing it gives. The checks
:meth:`SnapshotTables.validate` makes on these tables are made on the sorted keys as they go
by (``l2`` must come before the tables naming L2 chunks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from napari_crant.snapshot import format as fmt
from napari_crant.snapshot.arrow_columns import ArrowColumnsWriter
from napari_crant.snapshot.external_sort import ExternalSorter
from napari_crant.snapshot.key_files import KeyFiles, release_pages
from napari_crant.snapshot.layout import LayoutMoment, RootsAt, layout_moment
from napari_crant.snapshot.synapse_files import SupervoxelL2, SynapseKeys, pandas_metadata
from napari_crant.snapshot.tables import (
    OPTIONAL_SCHEMAS,
    SCHEMAS,
    SnapshotTableError,
    check_columns,
)

#: Rows of a sorted table gathered and written at once.
SLICE_ROWS = 1 << 22
#: The tables :meth:`BaseTablesWriter.put` takes, in the order :func:`write_base_tables` hands
#: them over.
TABLES = ("l2", "supervoxels", "roots", "root_l2", "versions", "lineage", "l2_edges",
          "annotations", "nuclei", "neuropils", "skeleton_nodes")
#: Float columns of ``l2`` (written as float64).
_L2_FLOATS = ("x", "y", "z", "max_dt_nm", "size_nm3")


def to_us(ts: pd.Series) -> np.ndarray:
    """UTC timestamps -> int64 microseconds, ``NaT`` -> :data:`format.NEVER_US`."""
    us = ts.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    out = us.to_numpy().astype("int64")
    out[ts.isna().to_numpy()] = fmt.NEVER_US
    return out


def write_arrow(df: pd.DataFrame, path: Path) -> None:
    """A mapped table (Arrow IPC, one record batch, uncompressed), written whole."""
    table = pa.Table.from_pandas(df, preserve_index=False).combine_chunks()
    feather.write_feather(table, path, compression="uncompressed", chunksize=max(len(df), 1))


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """A small table (Parquet, zstd)."""
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, compression="zstd")


def write_sorted_arrow(columns: dict[str, np.ndarray], order: np.ndarray | range,
                       path: Path) -> None:
    """Write ``columns`` (numeric arrays, file order) with their rows taken in ``order``.

    The same bytes as :func:`write_arrow` of the frame of the reordered columns, but only
    :data:`SLICE_ROWS` rows are gathered at once. ``order`` a ``range`` (step 1): the rows
    as they are, sliced, not gathered.
    """
    dtypes = {k: v.dtype for k, v in columns.items()}
    writer = ArrowColumnsWriter(path, dtypes, metadata=pandas_metadata(dtypes))
    try:
        for lo in range(0, len(order), SLICE_ROWS):
            rows = order[lo:lo + SLICE_ROWS]
            if isinstance(rows, range):
                rows = slice(rows.start, rows.stop)
            writer.append({k: v[rows] for k, v in columns.items()})
            del rows
            release_pages(*columns.values())  # mapped columns: out of the resident set
        writer.close()
    except BaseException:
        writer.abort()
        raise


#: Rows of ``root_l2`` (and ``l2_roots``) sorted in memory at once (runs on disk beyond).
RUN_ROWS = 1 << 21
_SV_ROW = np.dtype([("sv_id", "<u8"), ("l2_id", "<u8")])
_ROOT_L2_ROW = np.dtype([("root_id", "<u8"), ("l2_id", "<u8")])
#: ``l2_roots.arrow``'s columns, in the file's order.
_L2_ROOTS_ROW = np.dtype([("l2_id", "<u8"), ("root_id", "<u8"), ("created_us", "<i8"),
                          ("expired_us", "<i8")])


def _with_lifetimes(rows: np.ndarray, root_ids: np.ndarray, created_us: np.ndarray,
                    expired_us: np.ndarray) -> np.ndarray:
    """``root_l2`` rows as ``l2_roots`` rows: each with its root's creation and expiry."""
    out = np.empty(len(rows), _L2_ROOTS_ROW)
    out["l2_id"], out["root_id"] = rows["l2_id"], rows["root_id"]
    at = np.searchsorted(root_ids, rows["root_id"])
    out["created_us"], out["expired_us"] = created_us[at], expired_us[at]
    return out


def _write_batches(batches: Iterator[np.ndarray], row: np.dtype, path: Path,
                   also: Callable[[np.ndarray], None]) -> int:
    """Write sorted batches of records (fields of ``row``) as an Arrow file of those columns
    (the bytes :func:`write_arrow` of them whole gives), handing each batch to ``also``;
    returns the number of rows."""
    dtypes = {name: row[name] for name in row.names}
    writer = ArrowColumnsWriter(path, dtypes, metadata=pandas_metadata(dtypes))
    try:
        for rows in batches:
            writer.append({name: rows[name] for name in row.names})
            also(rows)
            del rows
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def _pairs_in_order(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the rows ``(a, b)`` are sorted by ``a``, then ``b`` (checked a slice at a time)."""
    for lo in range(0, max(len(a) - 1, 0), SLICE_ROWS):
        a0, a1 = a[lo:lo + SLICE_ROWS], a[lo + 1:lo + SLICE_ROWS + 1]
        b0, b1 = b[lo:lo + SLICE_ROWS], b[lo + 1:lo + SLICE_ROWS + 1]
        a0, b0 = a0[:len(a1)], b0[:len(b1)]
        if not ((a1 > a0) | ((a1 == a0) & (b1 >= b0))).all():
            return False
    return True


def _first_repeat(sorted_keys: np.ndarray) -> int | None:
    """Index of the first value equal to the one before it, if any."""
    same = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    return int(same[0]) + 1 if len(same) else None


def _missing(sorted_known: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mask of ``values`` not in ``sorted_known``."""
    if not len(sorted_known):
        return np.ones(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_known, values), len(sorted_known) - 1)
    return sorted_known[pos] != values


class BaseTablesWriter:
    """Writes the base tables into a (temporary) snapshot directory as they are handed over.

    Parameters
    ----------
    directory
        The snapshot directory being written (:func:`~napari_crant.snapshot.writer.begin_snapshot`).
    keys_dir
        If given (a directory outside the snapshot's files, removed by the caller after the
        synapse files are written), the sorted keys the synapse files look rows up in
        (supervoxels and their L2 chunks, the chunks' roots at the layout moment) are made
        there as ``.npy`` files and held as read-only memory maps (file pages, not heap).

    Examples
    --------
    >>> import tempfile
    >>> from napari_crant.demo import build_demo_tables
    >>> t = build_demo_tables(40, seed=1)
    >>> w = BaseTablesWriter(Path(tempfile.mkdtemp()))
    >>> w.put(**{name: getattr(t, name) for name in TABLES})
    >>> w.counts()["l2"] == len(t.l2)
    True
    """

    def __init__(self, directory: Path, keys_dir: Path | None = None):
        self.directory = Path(directory)
        self._keys = KeyFiles(keys_dir)
        self._counts: dict[str, int] = {}
        self._l2_ids: np.ndarray | None = None  # sorted, once ``l2`` is written
        self._sv_to_l2: SupervoxelL2 | None = None
        self._root_of_l2: RootsAt | None = None
        self.layout: LayoutMoment | None = None
        self._roots: pd.DataFrame | None = None  # until root_l2 and versions come
        self._versions: pd.DataFrame | None = None
        self._root_l2: pd.DataFrame | None = None

    def put(self, **tables: pd.DataFrame | None) -> None:
        """Write the tables given (names of :data:`TABLES`), in the order of :data:`TABLES`.

        ``roots``, ``root_l2`` and ``versions`` are written once all three are given (in
        one call or several). The writer keeps only the sorted keys the synapse files need.

        Raises
        ------
        SnapshotTableError
            If a table breaks the format (as :meth:`SnapshotTables.validate` would say), or
            a table naming L2 chunks comes before ``l2``.
        """
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise ValueError(f"not base tables: {sorted(unknown)}")
        for name in TABLES:
            if name not in tables:
                continue
            df = tables[name]
            if name in SCHEMAS or name == "annotations":
                check_columns(name, df)
            getattr(self, f"_put_{name}")(df)
        for name in list(tables):
            tables[name] = None
        if self._roots is not None and self._versions is not None and self._root_l2 is not None:
            self._write_root_tables()

    def _put_l2(self, l2: pd.DataFrame) -> None:
        ids = l2["l2_id"].to_numpy(np.uint64)
        order = np.argsort(ids, kind="stable")
        self._l2_ids = self._keys.array("l2_id", len(ids))
        np.take(ids, order, out=self._l2_ids)  # ids[order], in memory or in its file
        self._l2_ids = self._keys.filled("l2_id", self._l2_ids)
        dup = _first_repeat(self._l2_ids)
        if dup is not None:
            raise SnapshotTableError("table 'l2' has duplicate l2_id values")
        # every column of the frame, in its order (the floats as float64), as written whole
        columns = {c: l2[c].to_numpy(np.float64 if c in _L2_FLOATS else None)
                   for c in l2.columns}
        if all(v.dtype.kind in "iuf" for v in columns.values()):
            write_sorted_arrow(columns, order, self.directory / fmt.L2)
        else:  # other columns (strings, say): sorted whole
            write_arrow(pd.DataFrame({c: v[order] for c, v in columns.items()}),
                        self.directory / fmt.L2)
        self._counts["l2"] = len(ids)

    def _known_l2(self, table: str) -> np.ndarray:
        if self._l2_ids is None:
            raise SnapshotTableError(f"table {table!r} was handed over before table 'l2'")
        return self._l2_ids

    def _put_supervoxels(self, sv: pd.DataFrame) -> None:
        """Sorted by ``sv_id`` on disk (:class:`ExternalSorter`, stable), a run of
        :data:`RUN_ROWS` rows at a time: beyond the frame, only the sorted columns (which
        the synapse files look supervoxels up in) are held whole."""
        known = self._known_l2("supervoxels")
        ids, l2 = sv["sv_id"].to_numpy(np.uint64), sv["l2_id"].to_numpy(np.uint64)
        del sv
        sv_sorted, l2_sorted = self._keys.array("sv_id", len(ids)), self._keys.array("sv_l2", len(ids))
        with ExternalSorter(_SV_ROW, ("sv_id",), RUN_ROWS, self.directory) as by_sv:
            for lo in range(0, len(ids), SLICE_ROWS):
                part = np.empty(len(ids[lo:lo + SLICE_ROWS]), _SV_ROW)
                part["sv_id"], part["l2_id"] = ids[lo:lo + SLICE_ROWS], l2[lo:lo + SLICE_ROWS]
                by_sv.add(part)
                del part
            del ids, l2
            at = 0
            for rows in by_sv.sorted_batches():
                sv_sorted[at:at + len(rows)] = rows["sv_id"]
                l2_sorted[at:at + len(rows)] = rows["l2_id"]
                at += len(rows)
                del rows
                release_pages(sv_sorted, l2_sorted)  # in keys_dir: out of the resident set
        if _first_repeat(sv_sorted) is not None:
            raise SnapshotTableError("table 'supervoxels' lists a supervoxel twice")
        release_pages(sv_sorted)
        for lo in range(0, len(l2_sorted), SLICE_ROWS):
            if _missing(known, l2_sorted[lo:lo + SLICE_ROWS]).any():
                raise SnapshotTableError("table 'supervoxels' names L2 chunks missing from 'l2'")
            release_pages(known, l2_sorted)  # mapped keys: out of the resident set
        write_sorted_arrow({"sv_id": sv_sorted, "l2_id": l2_sorted}, range(len(sv_sorted)),
                           self.directory / fmt.SUPERVOXELS)  # write_arrow's bytes, in slices
        self._sv_to_l2 = SupervoxelL2(self._keys.filled("sv_id", sv_sorted),
                                      self._keys.filled("sv_l2", l2_sorted))
        self._counts["supervoxels"] = len(sv_sorted)

    def _put_roots(self, roots: pd.DataFrame) -> None:
        roots = roots.sort_values("root_id", kind="stable").reset_index(drop=True)
        if roots["root_id"].duplicated().any():
            raise SnapshotTableError("table 'roots' has duplicate root_id values")
        write_parquet(roots, self.directory / fmt.ROOTS)
        self._counts["roots"] = len(roots)
        self._counts["current_roots"] = int(roots["expired"].isna().sum())
        self._roots = roots

    def _put_root_l2(self, root_l2: pd.DataFrame) -> None:
        self._root_l2 = root_l2

    def _put_versions(self, versions: pd.DataFrame) -> None:
        if versions.empty:
            raise SnapshotTableError("table 'versions' is empty: a snapshot needs a version")
        versions = versions.sort_values("version").reset_index(drop=True)
        write_parquet(versions, self.directory / fmt.VERSIONS)
        self._counts["versions"] = len(versions)
        self._versions = versions

    def _write_root_tables(self) -> None:
        """``root_l2.arrow`` and ``l2_roots.arrow``; the layout moment and its L2 -> root.

        Both are sorted on disk (:class:`ExternalSorter`, stable as ``sort_values``): the
        rows by root and chunk, then those (in that order) by chunk and creation, so only
        :data:`RUN_ROWS` rows and the chunks' roots at the layout moment are held at once.
        """
        roots, versions, root_l2 = self._roots, self._versions, self._root_l2
        self._roots = self._versions = self._root_l2 = None
        root_ids = roots["root_id"].to_numpy(np.uint64)  # sorted
        created_us, expired_us = to_us(roots["created"]), to_us(roots["expired"])
        del roots
        self.layout = layout_moment(versions, created_us, expired_us)
        root = root_l2["root_id"].to_numpy(np.uint64)
        l2 = root_l2["l2_id"].to_numpy(np.uint64)
        del root_l2
        known_l2 = self._known_l2("root_l2")
        by_root = ExternalSorter(_ROOT_L2_ROW, ("root_id", "l2_id"), RUN_ROWS, self.directory)
        by_l2 = ExternalSorter(_L2_ROOTS_ROW, ("l2_id", "created_us"), RUN_ROWS, self.directory)
        try:
            for lo in range(0, len(root), SLICE_ROWS):
                part = np.empty(len(root[lo:lo + SLICE_ROWS]), _ROOT_L2_ROW)
                part["root_id"], part["l2_id"] = root[lo:lo + SLICE_ROWS], l2[lo:lo + SLICE_ROWS]
                if _missing(root_ids, part["root_id"]).any():
                    raise SnapshotTableError("table 'root_l2' names roots missing from 'roots'")
                if _missing(known_l2, part["l2_id"]).any():
                    raise SnapshotTableError("table 'root_l2' names L2 chunks missing from 'l2'")
                by_root.add(part)
                del part
            del root, l2
            self._counts["root_l2"] = _write_batches(
                by_root.sorted_batches(), _ROOT_L2_ROW, self.directory / fmt.ROOT_L2,
                lambda rows: by_l2.add(_with_lifetimes(rows, root_ids, created_us, expired_us)))
            # the chunks' roots at the layout moment, by chunk: in memory, or appended to
            # files in keys_dir as they come
            alive_l2, alive_root = self._keys.parts("alive_l2"), self._keys.parts("alive_root")
            at_us = self.layout.roots_at_us

            def alive(rows: np.ndarray) -> None:
                now = (rows["created_us"] <= at_us) & (at_us < rows["expired_us"])
                alive_l2.append(rows["l2_id"][now])
                alive_root.append(rows["root_id"][now])

            _write_batches(by_l2.sorted_batches(), _L2_ROOTS_ROW, self.directory / fmt.L2_ROOTS,
                           alive)
        finally:
            by_root.close()
            by_l2.close()
        self._root_of_l2 = RootsAt.from_sorted(alive_l2.joined(), alive_root.joined(), at_us)



    def _put_lineage(self, lineage: pd.DataFrame) -> None:
        lineage = lineage.sort_values(["timestamp", "operation_id", "parent_root_id",
                                       "child_root_id"], kind="stable")
        write_parquet(lineage.reset_index(drop=True), self.directory / fmt.LINEAGE)
        self._counts["operations"] = int(lineage["operation_id"].nunique())

    def _put_l2_edges(self, edges: pd.DataFrame) -> None:
        a, b = edges["l2_a"].to_numpy(np.uint64), edges["l2_b"].to_numpy(np.uint64)
        # already in order (as the demo makes them): no index; else a stable sort's
        order = range(len(a)) if _pairs_in_order(a, b) else np.lexsort((b, a))
        write_sorted_arrow({"l2_a": a, "l2_b": b}, order, self.directory / fmt.L2_EDGES)

    def _put_annotations(self, annotations: pd.DataFrame) -> None:
        write_parquet(annotations.reset_index(drop=True), self.directory / fmt.ANNOTATIONS)
        self._counts["annotations"] = len(annotations)

    def _put_nuclei(self, nuclei: pd.DataFrame) -> None:
        write_parquet(nuclei.reset_index(drop=True), self.directory / fmt.NUCLEI)

    def _put_neuropils(self, neuropils: pd.DataFrame) -> None:
        write_parquet(neuropils.reset_index(drop=True), self.directory / fmt.NEUROPILS)

    def _put_skeleton_nodes(self, nodes: pd.DataFrame | None) -> None:
        if nodes is None:
            return
        cols = list(OPTIONAL_SCHEMAS["skeleton_nodes"])  # row order is meaningful
        write_arrow(nodes[cols].reset_index(drop=True), self.directory / fmt.SKELETON_NODES)
        self._counts["skeleton_nodes"] = len(nodes)

    def counts(self) -> dict[str, int]:
        """The manifest's counts of the tables written (``root_l2`` is not a manifest count)."""
        order = ("roots", "current_roots", "l2", "supervoxels", "operations", "versions",
                 "annotations", "skeleton_nodes")
        return {k: self._counts[k] for k in order if k in self._counts}

    def keys(self) -> SynapseKeys:
        """What the synapse files need (once ``l2``, ``supervoxels`` and the root tables are in)."""
        if self._sv_to_l2 is None or self._root_of_l2 is None or self.layout is None:
            raise SnapshotTableError("the synapse keys need tables 'supervoxels', 'roots', "
                                     "'root_l2' and 'versions'")
        return SynapseKeys(self._sv_to_l2, self._root_of_l2, self.layout)
