"""Synapse QC verdicts: user data, stored so that nothing is ever lost.

Verdicts live in a local SQLite database in WAL mode with ``synchronous=NORMAL``; each verdict
is committed before :meth:`VerdictStore.set_verdict` returns, so an acknowledged verdict
survives the process being killed, and a background thread flushes the log to the disk right
after (:mod:`napari_crant.qc.wal_sync`: survives a power cut too, without the key waiting).
A verdict is keyed by dataset, synapse ID and the pre- and postsynaptic *supervoxel* IDs
(which never change), not by root IDs (which change with every edit): when a neuron is edited
and reloaded under its new root ID, its synapses' verdicts reappear. Every change is also
appended to a history table; nothing is overwritten silently.
IDs are stored as decimal text (exact for the whole uint64 range).

When another process holds the database's write lock for longer than ``busy_timeout``, a
verdict is not dropped: it is kept as *pending* (in memory and in an fsynced journal next to
the database, see :mod:`napari_crant.qc.pending`), shown by :attr:`VerdictStore.pending`, and
written before the next change or by :meth:`VerdictStore.retry_pending`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pandas as pd

from napari_crant.qc.pending import PendingJournal
from napari_crant.qc.verdict_files import read_verdict_file, write_verdict_file
from napari_crant.qc.verdict_values import (
    COLUMNS,
    ENV_DATA_DIR,
    EXPORT_FORMAT,
    KEY,
    SCHEMA_VERSION,
    VERDICTS,
    VerdictError,
    VerdictStoreBusyError,
    VerdictStoreReadOnlyError,
    default_db_path,
    default_reviewer,
    id_frame,
    id_text,
    store_error,
    verdict_row,
)
from napari_crant.qc.wal_sync import WalSync

__all__ = [
    "ENV_DATA_DIR", "EXPORT_FORMAT", "SCHEMA_VERSION", "VERDICTS", "VerdictError", "VerdictStore",
    "VerdictStoreBusyError", "VerdictStoreReadOnlyError", "default_db_path", "default_reviewer",
]


class VerdictStore:
    """The verdict database.

    Parameters
    ----------
    path
        SQLite file; created with its folder if missing. Default :func:`default_db_path`.
    busy_timeout
        Seconds a write waits for another process's lock before the change is kept as pending.

    Raises
    ------
    VerdictStoreReadOnlyError
        The file or its folder cannot be written (naming the path).
    VerdictStoreBusyError
        A new database cannot be set up because another process holds the lock.
    VerdictError
        The file is not a napari-crant verdict database.
    """

    def __init__(self, path: str | os.PathLike | None = None, busy_timeout: float = 5.0):
        self.path = Path(path) if path is not None else default_db_path()
        self.busy_timeout = float(busy_timeout)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise store_error(e, self.path) from None
        self._lock = threading.RLock()
        self._pending: list[dict[str, Any]] = []
        self._journal = PendingJournal(self.path)
        try:
            self._con = sqlite3.connect(self.path, timeout=self.busy_timeout, check_same_thread=False,
                                        isolation_level=None)
        except sqlite3.Error as e:
            raise store_error(e, self.path) from None
        try:
            self._con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")  # the log's fsync: self._log_flush
            self._create()
            self._check_writable()
        except (sqlite3.Error, VerdictError) as e:
            self._con.close()
            if isinstance(e, VerdictError):
                raise
            raise store_error(e, self.path) from None
        #: flushes the write-ahead log to the disk after each commit, off the caller's thread
        self._log_flush = WalSync(self.path)
        try:
            self._adopt_orphans()
        except BaseException:
            self._log_flush.close()
            self._con.close()
            raise

    def _check_writable(self) -> None:
        """Fail now on a read-only database; a busy one is fine (changes wait as pending)."""
        self._con.execute("PRAGMA busy_timeout=0")
        try:
            self._con.execute("BEGIN IMMEDIATE")
            # a read-only file is found only by a write (rolled back at once)
            self._con.execute("INSERT OR REPLACE INTO meta VALUES ('write_probe', '')")
        except sqlite3.OperationalError as e:
            if not isinstance(store_error(e, self.path), VerdictStoreBusyError):
                raise
        finally:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            self._con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")

    def _adopt_orphans(self) -> None:
        """Take over journals left by stores that ended before writing them."""
        for orphan in self._journal.adopt_orphans():
            if not orphan.entries:
                orphan.done()
                continue
            try:
                with self._lock:
                    self._write(orphan.entries)
            except VerdictStoreBusyError:
                with self._lock:  # ours now: journaled before the orphan is removed
                    self._journal.append(orphan.entries)
                    self._pending.extend(orphan.entries)
            except BaseException:
                orphan.release()  # left for a later store
                raise
            orphan.done()

    def _create(self) -> None:
        try:  # an existing database needs no lock to be recognised (another process may write)
            row = self._con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError as e:
            if "no such table" not in str(e):
                raise
            row = None
        if row is None:
            cols = ", ".join(
                f"{c} TEXT NOT NULL" if c in KEY or c in ("verdict", "reviewer", "reviewed_at")
                else f"{c} {'REAL' if c in 'xyz' else 'TEXT'}"
                for c in COLUMNS
            )
            with self._lock, self._transaction():
                self._con.execute(
                    f"CREATE TABLE IF NOT EXISTS verdicts ({cols}, PRIMARY KEY ({', '.join(KEY)}))"
                )
                self._con.execute(f"CREATE TABLE IF NOT EXISTS verdict_history ({cols}, change TEXT)")
                self._con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                row = self._con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    self._con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        if row is not None and str(row[0]) != str(SCHEMA_VERSION):
            raise VerdictError(
                f"{self.path} has verdict schema {row[0]}; this napari-crant reads {SCHEMA_VERSION}"
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any error; SQLite errors made clear)."""
        try:
            self._con.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise store_error(e, self.path) from None
        try:
            yield
            self._con.execute("COMMIT")
        except BaseException as e:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise store_error(e, self.path) from None
            raise

    def close(self) -> None:
        """Close the database; pending changes are written first if possible, else stay journaled."""
        with self._lock:
            if self._pending:
                with suppress(VerdictError):  # else journaled: the next store to open writes them
                    self.retry_pending()
            self._journal.close()
            self._log_flush.close()
            self._con.close()

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------
    def set_verdict(
        self,
        dataset: str,
        synapse_id: Any,
        pre_pt_supervoxel_id: Any,
        post_pt_supervoxel_id: Any,
        verdict: str,
        note: str = "",
        reviewer: str | None = None,
        **context: Any,
    ) -> None:
        """Record one verdict and commit it before returning.

        Parameters
        ----------
        dataset, synapse_id, pre_pt_supervoxel_id, post_pt_supervoxel_id
            The key.
        verdict
            One of :data:`VERDICTS`.
        note
            Free text.
        reviewer
            Defaults to the login name.
        **context
            Optional ``pre_pt_root_id, post_pt_root_id, materialization, x, y, z``.
        """
        self.set_many([{
            "dataset": dataset, "synapse_id": synapse_id,
            "pre_pt_supervoxel_id": pre_pt_supervoxel_id,
            "post_pt_supervoxel_id": post_pt_supervoxel_id, "verdict": verdict, "note": note,
            "reviewer": reviewer, **context,
        }], change="set")

    def set_many(self, records: Iterable[dict[str, Any]], change: str = "set") -> int:
        """Record several verdicts in one transaction (all or none). Returns how many.

        If another process holds the database longer than ``busy_timeout``, they are kept as
        pending (journaled on disk before this returns) and written with the next change or
        by :meth:`retry_pending`; see :attr:`pending`.
        """
        rows = [verdict_row(r) for r in records]
        self._submit([{"op": "set", "row": list(r), "change": change} for r in rows])
        return len(rows)

    def clear_verdict(self, dataset: str, synapse_id: Any, pre_sv: Any, post_sv: Any,
                      change: str = "cleared") -> None:
        """Remove a verdict (history keeps it, marked ``change``); pending when busy, as set_many."""
        key = [dataset, id_text(synapse_id, "synapse_id"), id_text(pre_sv, "pre_pt_supervoxel_id"),
               id_text(post_sv, "post_pt_supervoxel_id")]
        self._submit([{"op": "clear", "key": key, "change": change}])

    @property
    def pending(self) -> int:
        """How many changes wait for the database (another process held it too long)."""
        return len(self._pending)

    def retry_pending(self) -> int:
        """Write the pending changes now. Returns how many were written (0 if still busy)."""
        with self._lock:
            if not self._pending:
                return 0
            try:
                self._write(self._pending)
            except VerdictStoreBusyError:
                return 0
            written = len(self._pending)
            self._pending = []
            self._journal.clear()
            return written

    def _submit(self, entries: list[dict[str, Any]]) -> None:
        """Write pending changes, then ``entries``; on a busy database keep them pending."""
        if self._log_flush.error is not None:  # the disk refused the last flush: say so, take nothing
            raise store_error(self._log_flush.error, self.path)
        with self._lock:
            if not self._pending or self.retry_pending():
                try:
                    self._write(entries)
                    return
                except VerdictStoreBusyError:
                    pass
            try:
                self._journal.append(entries)
            except OSError as e:
                raise store_error(e, self._journal.path) from None
            self._pending.extend(entries)

    def _write(self, entries: list[dict[str, Any]]) -> None:
        """Apply ``set``/``clear`` entries in order, in one transaction."""
        placeholders = ", ".join("?" * len(COLUMNS))
        where = " AND ".join(f"{k}=?" for k in KEY)
        with self._transaction():
            for e in entries:
                if e["op"] == "set":
                    row = tuple(e["row"])
                    self._con.execute(
                        f"INSERT OR REPLACE INTO verdicts ({', '.join(COLUMNS)}) "
                        f"VALUES ({placeholders})", row,
                    )
                    self._con.execute(
                        f"INSERT INTO verdict_history ({', '.join(COLUMNS)}, change) "
                        f"VALUES ({placeholders}, ?)", (*row, e["change"]),
                    )
                else:
                    key = tuple(e["key"])
                    self._con.execute(
                        f"INSERT INTO verdict_history SELECT *, ? FROM verdicts WHERE {where}",
                        (e.get("change", "cleared"), *key),
                    )
                    self._con.execute(f"DELETE FROM verdicts WHERE {where}", key)
        self._log_flush.request()

    # -- reading ------------------------------------------------------------------------------
    def _frame(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        with self._lock:
            cur = self._con.execute(sql, params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return id_frame(pd.DataFrame(rows, columns=names))

    def _current_rows(self, dataset: str | None) -> list[tuple]:
        """Stored verdict rows (``COLUMNS`` order) with the pending changes applied."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM verdicts"
        with self._lock:
            if dataset is None:
                rows = self._con.execute(sql).fetchall()
            else:
                rows = self._con.execute(sql + " WHERE dataset=?", (dataset,)).fetchall()
            pending = list(self._pending)
        if not pending:
            return rows
        by_key = {tuple(r[:len(KEY)]): r for r in rows}
        for e in pending:
            if e["op"] == "set":
                by_key[tuple(e["row"][:len(KEY)])] = tuple(e["row"])
            else:
                by_key.pop(tuple(e["key"]), None)
        return [r for r in by_key.values() if dataset is None or r[0] == dataset]

    def verdicts(self, dataset: str | None = None) -> pd.DataFrame:
        """Current verdicts (all datasets, or one; pending ones included), oldest review first."""
        df = pd.DataFrame(self._current_rows(dataset), columns=list(COLUMNS))
        df = df.sort_values(["reviewed_at", "synapse_id"], kind="stable", ignore_index=True)
        return id_frame(df)

    def history(self) -> pd.DataFrame:
        """Every change ever recorded, in order."""
        return self._frame("SELECT rowid AS seq, * FROM verdict_history ORDER BY rowid")

    def for_synapses(self, dataset: str, synapses: pd.DataFrame) -> pd.DataFrame:
        """Verdicts of these synapses (matched on id and both supervoxels).

        Parameters
        ----------
        synapses
            With ``id`` (or ``synapse_id``), ``pre_pt_supervoxel_id``, ``post_pt_supervoxel_id``.

        Returns
        -------
        pandas.DataFrame
            Aligned with ``synapses``: ``verdict`` (None where unreviewed), ``note``,
            ``reviewer``, ``reviewed_at``.
        """
        sid = synapses["synapse_id"] if "synapse_id" in synapses else synapses["id"]
        key = pd.DataFrame({
            "synapse_id": [str(int(v)) for v in sid],
            "pre_pt_supervoxel_id": [str(int(v)) for v in synapses["pre_pt_supervoxel_id"]],
            "post_pt_supervoxel_id": [str(int(v)) for v in synapses["post_pt_supervoxel_id"]],
        })
        have = pd.DataFrame(self._current_rows(dataset), columns=list(COLUMNS))[
            ["synapse_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id", "verdict", "note", "reviewer",
             "reviewed_at"]]
        merged = key.merge(have, how="left", on=list(key.columns))
        out = merged[["verdict", "note", "reviewer", "reviewed_at"]].astype(object)
        out = out.where(out.notna(), None)
        out.index = synapses.index
        return out

    # -- export / import ----------------------------------------------------------------------
    def export(self, path: str | os.PathLike, dataset: str | None = None) -> Path:
        """Write verdicts to CSV or Parquet (by extension) with provenance.

        CSV files start with ``# key: value`` comment lines; Parquet files carry the same in
        their schema metadata under ``napari_crant``.
        """
        return write_verdict_file(self.verdicts(dataset), Path(path), dataset)

    def import_file(self, path: str | os.PathLike) -> int:
        """Read verdicts exported by :meth:`export`; all are stored or, on any problem, none.

        The file's header is checked first (a foreign file is refused without reading it).

        Raises
        ------
        VerdictError
            For a missing, corrupt or foreign file, or a bad value (naming the file and the
            row); the database is left unchanged.
        """
        path = Path(path)
        return self.set_many(read_verdict_file(path), change=f"import:{path.name}")
