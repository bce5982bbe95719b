"""The synapse files of a snapshot, written from batches of rows in bounded memory.

The files of the working-set layout (``snapshot/layout.py``, ``docs/snapshot-format.md``):
``synapses.arrow`` holds one row per synapse in the order of :data:`SYNAPSE_SORT_KEY`
(grouped by presynaptic root at the layout moment), ``synapses_post.arrow`` the post-side
copy in the order of :data:`POST_SORT_KEY`, ``synapses_{pre,post}_l2.arrow`` each L2
chunk's run of rows and ``synapses_roots.arrow`` each root's slices. Both orders are sort
keys over the integer fields of the records, applied by
:class:`~napari_crant.snapshot.external_sort.ExternalSorter`; a row's L2 chunks and its
roots at the layout moment are looked up batch by batch (:class:`SynapseKeys`), and the
runs and slices are collected while the sorted rows stream out, so any number of synapses
is written with a few hundred MB of memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from napari_crant.snapshot import format as fmt
from napari_crant.snapshot.arrow_columns import ArrowColumnsWriter
from napari_crant.snapshot.external_sort import DEFAULT_RUN_ROWS, ExternalSorter
from napari_crant.snapshot.layout import LayoutMoment, RootsAt, Runs, l2_runs_table, root_slices_table
from napari_crant.snapshot.tables import SnapshotTableError

#: Integer voxel position columns of a synapse.
POSITION_COLUMNS = [f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"]
#: One row of ``synapses.arrow``, in file column order.
SYNAPSE_RECORD = np.dtype([
    ("id", "u8"), ("pre_pt_supervoxel_id", "u8"), ("post_pt_supervoxel_id", "u8"),
    ("pre_pt_l2_id", "u8"), ("post_pt_l2_id", "u8"), ("pre_pt_root_id", "u8"),
    ("post_pt_root_id", "u8"), ("size", "i4"),
    *[(c, "i4") for c in POSITION_COLUMNS],
])
#: Row order of ``synapses.arrow``: by presynaptic root at the layout moment, L2 chunk, ID.
SYNAPSE_SORT_KEY: tuple[str, ...] = ("pre_pt_root_id", "pre_pt_l2_id", "id")
#: One row of ``synapses_post.arrow``, in file column order.
POST_COLUMNS = {"post_pt_root_id": np.dtype(np.uint64), "pre_pt_root_id": np.dtype(np.uint64),
                "pre_pt_l2_id": np.dtype(np.uint64), "size": np.dtype(np.int32),
                "row": np.dtype(np.int64)}
#: Row order of ``synapses_post.arrow``: by postsynaptic root at the layout moment, L2 chunk, ID.
POST_SORT_KEY: tuple[str, ...] = ("post_pt_root_id", "post_pt_l2_id", "id")
_POST_RECORD = np.dtype([("post_pt_root_id", "u8"), ("post_pt_l2_id", "u8"), ("id", "u8"),
                         *[(k, v) for k, v in POST_COLUMNS.items() if k != "post_pt_root_id"]])
_INT32 = np.iinfo(np.int32)


class SupervoxelL2:
    """Supervoxel -> L2 chunk lookup over sorted arrays (``0``, unsegmented, -> ``0``).

    Parameters
    ----------
    sv_id, l2_id
        The ``supervoxels`` table's columns, sorted by ``sv_id``.
    """

    def __init__(self, sv_id: np.ndarray, l2_id: np.ndarray):
        self.sv_id = np.asarray(sv_id, dtype=np.uint64)
        self.l2_id = np.asarray(l2_id, dtype=np.uint64)

    def __call__(self, sv: np.ndarray, column: str) -> np.ndarray:
        """The L2 chunk of every supervoxel in ``sv``; unknown ones raise naming ``column``."""
        sv = np.asarray(sv, dtype=np.uint64)
        out = np.zeros(len(sv), dtype=np.uint64)
        nz = np.flatnonzero(sv != 0)
        if len(nz) == 0:
            return out
        pos = np.searchsorted(self.sv_id, sv[nz])
        ok = pos < len(self.sv_id)
        ok[ok] = self.sv_id[pos[ok]] == sv[nz][ok]
        if not ok.all():
            bad = int(sv[nz][~ok][0])
            raise SnapshotTableError(f"table 'synapses' column {column!r} names supervoxel {bad} "
                                     "missing from 'supervoxels'")
        out[nz] = self.l2_id[pos]
        return out


@dataclass(frozen=True)
class SynapseKeys:
    """Where a synapse row's derived columns come from: its supervoxels' L2 chunks, and the
    chunks' roots at the layout moment.

    Parameters
    ----------
    sv_to_l2
        The snapshot's supervoxel -> L2 lookup.
    root_of_l2
        L2 chunk -> root at ``layout.roots_at_us``.
    layout
        The layout moment (written to the manifest).
    """

    sv_to_l2: SupervoxelL2
    root_of_l2: RootsAt
    layout: LayoutMoment


def synapse_records(columns: Mapping[str, np.ndarray], keys: SynapseKeys) -> np.ndarray:
    """Rows of :data:`SYNAPSE_RECORD` from synapse columns (the ``synapses`` table's).

    Parameters
    ----------
    columns
        ``id``, the two supervoxel columns, ``size`` and the nine position columns.
    keys
        The snapshot's lookups (fill the L2 and root columns).

    Returns
    -------
    numpy.ndarray
        Structured array of :data:`SYNAPSE_RECORD`.
    """
    n = len(columns["id"])
    rec = np.empty(n, dtype=SYNAPSE_RECORD)
    rec["id"] = np.asarray(columns["id"], dtype=np.uint64)
    for side in ("pre", "post"):
        sv = np.asarray(columns[f"{side}_pt_supervoxel_id"], dtype=np.uint64)
        rec[f"{side}_pt_supervoxel_id"] = sv
        l2 = keys.sv_to_l2(sv, f"{side}_pt_supervoxel_id")
        rec[f"{side}_pt_l2_id"] = l2
        rec[f"{side}_pt_root_id"] = keys.root_of_l2(l2)
    for col in ["size", *POSITION_COLUMNS]:
        values = np.asarray(columns[col])
        if n and (values.min() < _INT32.min or values.max() > _INT32.max):
            raise ValueError(f"synapse column {col!r} does not fit int32")
        rec[col] = values
    return rec


def write_synapse_files(batches: Iterable[np.ndarray], directory: Path,
                        sort_key: Sequence[str] = SYNAPSE_SORT_KEY,
                        run_rows: int | None = None) -> int:
    """Write the synapse files of the working-set layout into ``directory``.

    ``synapses.arrow``, ``synapses_pre_l2.arrow``, ``synapses_post.arrow``,
    ``synapses_post_l2.arrow`` and ``synapses_roots.arrow`` (``docs/snapshot-format.md``).

    Parameters
    ----------
    batches
        Synapse rows in any order, as arrays of :data:`SYNAPSE_RECORD`
        (:func:`synapse_records`). IDs must be unique.
    directory
        The (temporary) snapshot directory; the sorts' runs go there too and are removed.
    sort_key
        Fields of :data:`SYNAPSE_RECORD` giving the row order of ``synapses.arrow``. The
        format's readers need :data:`SYNAPSE_SORT_KEY` (rows grouped by presynaptic root,
        then L2 chunk); another order raises when its runs or slices are collected.
    run_rows
        Rows sorted in memory at once (bounds memory); default
        :data:`~napari_crant.snapshot.external_sort.DEFAULT_RUN_ROWS`.

    Returns
    -------
    int
        Number of synapses written.

    Raises
    ------
    ValueError
        If the rows of an L2 chunk or a root do not come out together (``sort_key`` does
        not group them).
    """
    directory = Path(directory)
    run_rows = DEFAULT_RUN_ROWS if run_rows is None else run_rows
    with ExternalSorter(SYNAPSE_RECORD, sort_key, run_rows, directory=directory) as rows_sorter, \
            ExternalSorter(_POST_RECORD, POST_SORT_KEY, run_rows,
                           directory=directory) as post_sorter:
        for batch in batches:
            rows_sorter.add(batch)
        names = list(SYNAPSE_RECORD.names)
        pre_l2, pre_roots = Runs(), Runs()
        table = ArrowColumnsWriter(directory / fmt.SYNAPSES,
                                   {k: SYNAPSE_RECORD[k] for k in names})
        try:
            for chunk in rows_sorter.sorted_batches():
                post = np.empty(len(chunk), dtype=_POST_RECORD)
                for k in _POST_RECORD.names:
                    if k != "row":
                        post[k] = chunk[k]
                post["row"] = np.arange(table.rows, table.rows + len(chunk), dtype=np.int64)
                post_sorter.add(post)
                pre_l2.add(chunk["pre_pt_l2_id"])
                pre_roots.add(chunk["pre_pt_root_id"])
                table.append({k: chunk[k] for k in names})
                del chunk, post
            n_rows = table.close()
        except BaseException:
            table.abort()
            raise
        _write_frame(l2_runs_table(pre_l2), directory / fmt.SYNAPSES_PRE_L2)
        del pre_l2
        post_l2, post_roots = Runs(), Runs()
        copy = ArrowColumnsWriter(directory / fmt.SYNAPSES_POST, POST_COLUMNS)
        try:
            for chunk in post_sorter.sorted_batches():
                post_l2.add(chunk["post_pt_l2_id"])
                post_roots.add(chunk["post_pt_root_id"])
                copy.append({k: chunk[k] for k in POST_COLUMNS})
                del chunk
            copy.close()
        except BaseException:
            copy.abort()
            raise
    _write_frame(l2_runs_table(post_l2), directory / fmt.SYNAPSES_POST_L2)
    _write_frame(root_slices_table(pre_roots, post_roots), directory / fmt.SYNAPSES_ROOTS)
    return n_rows


def _write_frame(df: pd.DataFrame, path: Path) -> None:
    """A small mapped table (one row per L2 chunk or root), written whole."""
    table = pa.Table.from_pandas(df, preserve_index=False).combine_chunks()
    feather.write_feather(table, path, compression="uncompressed", chunksize=max(len(df), 1))


def pandas_metadata(columns: Mapping[str, np.dtype]) -> dict[bytes, bytes]:
    """pandas' Arrow schema metadata for a DataFrame of these columns and dtypes (the mapped
    tables written from frames carry it)."""
    empty = pd.DataFrame({k: np.zeros(0, dtype=v) for k, v in columns.items()})
    return pa.Schema.from_pandas(empty, preserve_index=False).metadata
