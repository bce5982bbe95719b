"""Write :class:`SnapshotTables` to a snapshot directory (format in ``docs/snapshot-format.md``)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from napari_crant.snapshot import format as fmt
from napari_crant.snapshot.base_tables import TABLES, BaseTablesWriter
from napari_crant.snapshot.external_sort import DEFAULT_RUN_ROWS
from napari_crant.snapshot.integrity import record_files
from napari_crant.snapshot.layout import LayoutMoment
from napari_crant.snapshot.synapse_files import (
    POSITION_COLUMNS,
    SynapseKeys,
    synapse_records,
    write_synapse_files,
)
from napari_crant.snapshot.tables import SnapshotTables

_SYNAPSE_COLUMNS = ["id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size",
                    *POSITION_COLUMNS]


def write_snapshot(tables: SnapshotTables, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate ``tables`` and write them as a snapshot directory.

    The directory is written next to ``out`` under a temporary name and renamed into place,
    so a reader never sees a half-written snapshot. An existing snapshot is swapped out whole
    (atomically where the system can exchange two directories, otherwise by two renames) and
    then removed: a process that opened it keeps reading its (unlinked) files, a new open
    sees the new snapshot. The manifest records each file's size and checksum.

    Parameters
    ----------
    tables
        The snapshot's tables.
    out
        Directory to create.
    overwrite
        Replace an existing directory at ``out``; otherwise an existing one is an error.

    Returns
    -------
    Path
        The snapshot directory.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"snapshot directory {out} exists already (pass overwrite=True)")
    tables.validate()
    tmp = begin_snapshot(out, overwrite)
    try:
        counts, layout = _write_tables(tables, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return commit_snapshot(tmp, out, overwrite, tables.info, counts, layout)


def begin_snapshot(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Make the temporary directory a snapshot for ``out`` is written into.

    Parameters
    ----------
    out
        The snapshot directory to be.
    overwrite
        Whether an existing ``out`` may be replaced (checked here, before any work).

    Returns
    -------
    Path
        An empty directory next to ``out``; hand it to :func:`commit_snapshot`.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"snapshot directory {out} exists already (pass overwrite=True)")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def commit_snapshot(tmp: Path, out: str | os.PathLike, overwrite: bool, info: dict,
                    counts: dict[str, int], layout: LayoutMoment) -> Path:
    """Write the manifest into ``tmp`` (from :func:`begin_snapshot`) and move it to ``out``.

    ``tmp`` is removed if anything fails. See :func:`write_snapshot` for how an existing
    snapshot is replaced.

    Parameters
    ----------
    tmp
        The directory with every data file written.
    out
        The snapshot directory to be.
    overwrite
        Whether an existing ``out`` may be replaced.
    info, counts
        The manifest's ``info`` and ``counts``.
    layout
        The moment the stored synapse roots hold (:attr:`SynapseKeys.layout`).

    Returns
    -------
    Path
        The snapshot directory.
    """
    out = Path(out)
    try:
        manifest = {
            "format": fmt.FORMAT_NAME,
            "format_version": fmt.FORMAT_VERSION,
            "name": info.get("name", out.name),
            "created": pd.Timestamp.now(tz="UTC").isoformat(),
            "info": info,
            "counts": counts,
            "layout": layout.to_manifest(),
            "files": record_files(tmp),
        }
        (tmp / fmt.MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        replaced = _move_into_place(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
    return out


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` if unsupported."""
    if sys.platform != "linux":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    # non-zero, e.g. on a file system without RENAME_EXCHANGE: the caller renames twice
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> Path | None:
    """Rename the finished ``tmp`` to ``out``; returns where the replaced snapshot now is (or None)."""
    if not out.exists():
        tmp.rename(out)
        return None
    if not overwrite:
        raise FileExistsError(f"snapshot directory {out} exists already (pass overwrite=True)")
    if _exchange(tmp, out):
        return tmp  # tmp now holds the old snapshot
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    os.rename(out, old)  # onto the empty directory just made
    try:
        tmp.rename(out)
    except BaseException:
        os.rename(old, out)
        raise
    return old


def _write_tables(t: SnapshotTables, d: Path) -> tuple[dict[str, int], LayoutMoment]:
    counts, keys = write_base_tables(t, d)
    # Synapses: in slices through the external sort (the row order is SYNAPSE_SORT_KEY), the
    # same path as the demo's streamed synapses (so both write the same bytes).
    syn = t.synapses
    step = DEFAULT_RUN_ROWS
    n_syn = write_synapse_files(
        (synapse_records({c: syn[c].to_numpy()[lo:lo + step] for c in _SYNAPSE_COLUMNS}, keys)
         for lo in range(0, len(syn), step)), d)
    return {"synapses": n_syn, **counts}, keys.layout


def write_base_tables(t: SnapshotTables, d: Path) -> tuple[dict[str, int], SynapseKeys]:
    """Write every table but the synapses into the snapshot directory ``d``.

    Parameters
    ----------
    t
        The tables (``t.synapses`` is not read).
    d
        The (temporary) snapshot directory.

    Returns
    -------
    counts
        The manifest's counts, but ``synapses``.
    keys
        What the synapse files need: the supervoxel -> L2 lookup, the layout moment (the
        newest valid version, ``snapshot/layout.py``) and the L2 -> root lookup at it.
    """
    writer = BaseTablesWriter(d)
    writer.put(**{name: getattr(t, name) for name in TABLES})
    return writer.counts(), writer.keys()
