"""The synapse files of a snapshot, written from batches of rows in bounded memory.

``synapses.arrow`` holds one row per synapse in the order of :data:`SYNAPSE_SORT_KEY`, and
``synapses_post_index.arrow`` the row numbers of that file in the order of
:data:`POST_INDEX_SORT_KEY` (see ``docs/snapshot-format.md``). Both orders are sort keys
over the integer fields of :data:`SYNAPSE_RECORD`, applied by
:class:`~napari_crant.snapshot.external_sort.ExternalSorter`, so any number of synapses is
written with a few hundred MB of memory, and another row order is one tuple away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from napari_crant.snapshot import format as fmt
from napari_crant.snapshot.arrow_columns import ArrowColumnsWriter
from napari_crant.snapshot.external_sort import DEFAULT_RUN_ROWS, ExternalSorter
from napari_crant.snapshot.tables import SnapshotTableError

#: Integer voxel position columns of a synapse.
POSITION_COLUMNS = [f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"]
#: One row of ``synapses.arrow``, in file column order.
SYNAPSE_RECORD = np.dtype([
    ("id", "u8"), ("pre_pt_supervoxel_id", "u8"), ("post_pt_supervoxel_id", "u8"),
    ("pre_pt_l2_id", "u8"), ("post_pt_l2_id", "u8"), ("size", "i4"),
    *[(c, "i4") for c in POSITION_COLUMNS],
])
#: Row order of ``synapses.arrow``: by presynaptic L2 chunk, then synapse ID.
SYNAPSE_SORT_KEY: tuple[str, ...] = ("pre_pt_l2_id", "id")
#: Order of ``synapses_post_index.arrow``: by postsynaptic L2 chunk, then synapse ID.
POST_INDEX_SORT_KEY: tuple[str, ...] = ("post_pt_l2_id", "id")
_POST_RECORD = np.dtype([("post_pt_l2_id", "u8"), ("id", "u8"), ("row", "u8")])
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


def synapse_records(columns: Mapping[str, np.ndarray], sv_to_l2: SupervoxelL2) -> np.ndarray:
    """Rows of :data:`SYNAPSE_RECORD` from synapse columns (the ``synapses`` table's).

    Parameters
    ----------
    columns
        ``id``, the two supervoxel columns, ``size`` and the nine position columns.
    sv_to_l2
        The snapshot's supervoxel -> L2 lookup (fills the two L2 columns).

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
        rec[f"{side}_pt_l2_id"] = sv_to_l2(sv, f"{side}_pt_supervoxel_id")
    for col in ["size", *POSITION_COLUMNS]:
        values = np.asarray(columns[col])
        if n and (values.min() < _INT32.min or values.max() > _INT32.max):
            raise ValueError(f"synapse column {col!r} does not fit int32")
        rec[col] = values
    return rec


def write_synapse_files(batches: Iterable[np.ndarray], directory: Path,
                        sort_key: Sequence[str] = SYNAPSE_SORT_KEY,
                        run_rows: int | None = None) -> int:
    """Write ``synapses.arrow`` and ``synapses_post_index.arrow`` into ``directory``.

    Parameters
    ----------
    batches
        Synapse rows in any order, as arrays of :data:`SYNAPSE_RECORD`
        (:func:`synapse_records`). IDs must be unique.
    directory
        The (temporary) snapshot directory; the sort's runs go there too and are removed.
    sort_key
        Fields of :data:`SYNAPSE_RECORD` giving the row order of ``synapses.arrow``.
    run_rows
        Rows sorted in memory at once (bounds memory); default
        :data:`~napari_crant.snapshot.external_sort.DEFAULT_RUN_ROWS`.

    Returns
    -------
    int
        Number of synapses written.
    """
    directory = Path(directory)
    run_rows = DEFAULT_RUN_ROWS if run_rows is None else run_rows
    with ExternalSorter(SYNAPSE_RECORD, sort_key, run_rows, directory=directory) as rows_sorter, \
            ExternalSorter(_POST_RECORD, POST_INDEX_SORT_KEY, run_rows,
                           directory=directory) as post_sorter:
        for batch in batches:
            rows_sorter.add(batch)
        names = list(SYNAPSE_RECORD.names)
        table = ArrowColumnsWriter(directory / fmt.SYNAPSES,
                                   {k: SYNAPSE_RECORD[k] for k in names})
        try:
            for chunk in rows_sorter.sorted_batches():
                post = np.empty(len(chunk), dtype=_POST_RECORD)
                post["post_pt_l2_id"] = chunk["post_pt_l2_id"]
                post["id"] = chunk["id"]
                post["row"] = np.arange(table.rows, table.rows + len(chunk), dtype=np.uint64)
                post_sorter.add(post)
                table.append({k: chunk[k] for k in names})
                del chunk, post
            n_rows = table.close()
        except BaseException:
            table.abort()
            raise
        index = ArrowColumnsWriter(directory / fmt.SYNAPSES_POST_INDEX,
                                   {"post_pt_l2_id": np.uint64, "row": np.uint64},
                                   metadata=pandas_metadata({"post_pt_l2_id": np.uint64,
                                                             "row": np.uint64}))
        try:
            for chunk in post_sorter.sorted_batches():
                index.append({"post_pt_l2_id": chunk["post_pt_l2_id"], "row": chunk["row"]})
            index.close()
        except BaseException:
            index.abort()
            raise
    return n_rows


def pandas_metadata(columns: Mapping[str, np.dtype]) -> dict[bytes, bytes]:
    """pandas' Arrow schema metadata for a DataFrame of these columns and dtypes (the mapped
    tables written from frames carry it)."""
    empty = pd.DataFrame({k: np.zeros(0, dtype=v) for k, v in columns.items()})
    return pa.Schema.from_pandas(empty, preserve_index=False).metadata
