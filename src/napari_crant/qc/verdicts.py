"""Synapse QC verdicts: user data, stored so that nothing is ever lost.

Verdicts live in a local SQLite database in WAL mode with ``synchronous=FULL``; each verdict
is committed before :meth:`VerdictStore.set_verdict` returns, so an acknowledged verdict
survives the process being killed. A verdict is keyed by dataset, synapse ID and the pre-
and postsynaptic *supervoxel* IDs (which never change), not by root IDs (which change with
every edit): when a neuron is edited and reloaded under its new root ID, its synapses' verdicts
reappear. Every change is also appended to a history table; nothing is overwritten silently.
IDs are stored as decimal text (exact for the whole uint64 range).
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import napari_crant

#: The verdicts a reviewer can give, in key order.
VERDICTS = ("correct", "false_positive", "wrong_partner", "unsure")
ENV_DATA_DIR = "NAPARI_CRANT_DATA_DIR"
SCHEMA_VERSION = 1

_KEY = ("dataset", "synapse_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id")
_COLUMNS = (
    *_KEY, "verdict", "note", "reviewer", "reviewed_at", "pre_pt_root_id", "post_pt_root_id",
    "materialization", "x", "y", "z",
)
_ID_COLUMNS = ("synapse_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id", "pre_pt_root_id",
               "post_pt_root_id")
EXPORT_FORMAT = "napari-crant-verdicts"


class VerdictError(ValueError):
    """A verdict, or a file of verdicts, that cannot be stored."""


def default_db_path() -> Path:
    """``<user data dir>/verdicts.sqlite`` (``NAPARI_CRANT_DATA_DIR`` overrides the folder)."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser() / "verdicts.sqlite"
    import platformdirs

    return Path(platformdirs.user_data_dir("napari-crant", appauthor=False)) / "verdicts.sqlite"


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def _id_text(value: Any, name: str) -> str:
    if isinstance(value, bool) or value is None:
        raise VerdictError(f"{name} must be a non-negative integer ID, not {value!r}")
    if isinstance(value, float | np.floating):
        raise VerdictError(f"{name} {value!r} is a float; IDs must be integers (floats lose digits)")
    try:
        v = int(str(value).strip())
    except ValueError:
        raise VerdictError(f"{name} {value!r} is not an integer ID") from None
    if v < 0 or v >= 2**64:
        raise VerdictError(f"{name} {v} is not a uint64 ID")
    return str(v)


class VerdictStore:
    """The verdict database.

    Parameters
    ----------
    path
        SQLite file; created with its folder if missing. Default :func:`default_db_path`.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.execute("PRAGMA busy_timeout=5000")
            self._create()
        except sqlite3.DatabaseError as e:
            self._con.close()
            raise VerdictError(f"{self.path} is not a napari-crant verdict database ({e})") from None

    def _create(self) -> None:
        cols = ", ".join(
            f"{c} TEXT NOT NULL" if c in _KEY or c in ("verdict", "reviewer", "reviewed_at")
            else f"{c} {'REAL' if c in 'xyz' else 'TEXT'}"
            for c in _COLUMNS
        )
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.execute(
                    f"CREATE TABLE IF NOT EXISTS verdicts ({cols}, PRIMARY KEY ({', '.join(_KEY)}))"
                )
                self._con.execute(f"CREATE TABLE IF NOT EXISTS verdict_history ({cols}, change TEXT)")
                self._con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                row = self._con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    self._con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) != SCHEMA_VERSION:
                    raise VerdictError(
                        f"{self.path} has verdict schema {row[0]}; this napari-crant reads {SCHEMA_VERSION}"
                    )
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the database (everything is already committed)."""
        with self._lock:
            self._con.close()

    def __enter__(self) -> VerdictStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------
    def _row(self, rec: dict[str, Any]) -> tuple:
        verdict = rec.get("verdict")
        if verdict not in VERDICTS:
            raise VerdictError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        dataset = rec.get("dataset")
        if not isinstance(dataset, str) or not dataset:
            raise VerdictError(f"dataset must be a non-empty name, not {dataset!r}")
        out = []
        for c in _COLUMNS:
            v = rec.get(c)
            if c in _ID_COLUMNS:
                required = c in _KEY
                if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v):
                    if required:
                        raise VerdictError(f"{c} is required")
                    v = None
                else:
                    v = _id_text(v, c)
            elif c in "xyz":
                v = None if v is None or pd.isna(v) else float(v)
            elif c == "reviewed_at":
                v = pd.Timestamp(v or pd.Timestamp.now(tz="UTC")).isoformat()
            elif c == "reviewer":
                v = str(v or default_reviewer())
            elif v is not None and not isinstance(v, str):
                v = str(v)
            out.append(v)
        return tuple(out)

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
        """Record several verdicts in one transaction (all or none). Returns how many."""
        rows = [self._row(r) for r in records]
        placeholders = ", ".join("?" * len(_COLUMNS))
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany(
                    f"INSERT OR REPLACE INTO verdicts ({', '.join(_COLUMNS)}) VALUES ({placeholders})", rows
                )
                self._con.executemany(
                    f"INSERT INTO verdict_history ({', '.join(_COLUMNS)}, change) VALUES ({placeholders}, ?)",
                    [(*r, change) for r in rows],
                )
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        return len(rows)

    def clear_verdict(self, dataset: str, synapse_id: Any, pre_sv: Any, post_sv: Any,
                      change: str = "cleared") -> None:
        """Remove a verdict (the history keeps it, marked ``change``)."""
        key = (dataset, _id_text(synapse_id, "synapse_id"), _id_text(pre_sv, "pre_pt_supervoxel_id"),
               _id_text(post_sv, "post_pt_supervoxel_id"))
        where = " AND ".join(f"{k}=?" for k in _KEY)
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.execute(
                    f"INSERT INTO verdict_history SELECT *, ? FROM verdicts WHERE {where}", (change, *key)
                )
                self._con.execute(f"DELETE FROM verdicts WHERE {where}", key)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    # -- reading ------------------------------------------------------------------------------
    def _frame(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        with self._lock:
            cur = self._con.execute(sql, params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        df = pd.DataFrame(rows, columns=names)
        for c in _ID_COLUMNS:
            if c in df:
                if df[c].notna().all():
                    df[c] = np.array([int(v) for v in df[c]], dtype=np.uint64)
                else:
                    df[c] = df[c].astype(object)
        return df

    def verdicts(self, dataset: str | None = None) -> pd.DataFrame:
        """Current verdicts (all datasets, or one), oldest review first."""
        if dataset is None:
            return self._frame("SELECT * FROM verdicts ORDER BY reviewed_at, synapse_id")
        return self._frame("SELECT * FROM verdicts WHERE dataset=? ORDER BY reviewed_at, synapse_id",
                           (dataset,))

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
        with self._lock:
            rows = self._con.execute(
                "SELECT synapse_id, pre_pt_supervoxel_id, post_pt_supervoxel_id, verdict, note, reviewer, "
                "reviewed_at FROM verdicts WHERE dataset=?", (dataset,)
            ).fetchall()
        have = pd.DataFrame(rows, columns=["synapse_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id",
                                           "verdict", "note", "reviewer", "reviewed_at"])
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
        path = Path(path)
        df = self.verdicts(dataset)
        meta = {
            "format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION,
            "napari_crant_version": napari_crant.__version__,
            "exported_at": pd.Timestamp.now(tz="UTC").isoformat(), "dataset": dataset or "all",
            "rows": len(df),
        }
        out = df.copy()
        for c in _ID_COLUMNS:
            out[c] = [None if v is None else str(int(v)) for v in out[c]]
        tmp = path.with_name(f".{path.name}.tmp")
        if path.suffix.lower() == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(out, preserve_index=False)
            table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                   b"napari_crant": json.dumps(meta).encode()})
            pq.write_table(table, tmp)
        elif path.suffix.lower() == ".csv":
            with open(tmp, "w", newline="") as f:
                for k, v in meta.items():
                    f.write(f"# {k}: {v}\n")
                out.to_csv(f, index=False)
        else:
            raise VerdictError(f"export to .csv or .parquet, not {path.suffix or 'no extension'!r}")
        tmp.replace(path)
        return path

    def import_file(self, path: str | os.PathLike) -> int:
        """Read verdicts exported by :meth:`export`; all are stored or, on any problem, none.

        Raises
        ------
        VerdictError
            For a missing, corrupt or foreign file, naming what is wrong; the database is
            left unchanged.
        """
        path = Path(path)
        if not path.is_file():
            raise VerdictError(f"{path} does not exist")
        try:
            if path.suffix.lower() == ".parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
                meta_raw = (table.schema.metadata or {}).get(b"napari_crant")
                meta = json.loads(meta_raw) if meta_raw else {}
                df = table.to_pandas()
            elif path.suffix.lower() == ".csv":
                meta = {}
                with open(path) as f:
                    for line in f:
                        if not line.startswith("# "):
                            break
                        k, _, v = line[2:].rstrip("\n").partition(": ")
                        meta[k] = v
                df = pd.read_csv(path, comment=None, skiprows=len(meta), dtype=str, keep_default_na=False)
            else:
                raise VerdictError(f"import .csv or .parquet files, not {path.suffix or 'no extension'!r}")
        except VerdictError:
            raise
        except Exception as e:
            raise VerdictError(f"{path} could not be read as a verdict file: {e}") from None
        if meta.get("format") != EXPORT_FORMAT:
            raise VerdictError(f"{path} is not a napari-crant verdict export (no '{EXPORT_FORMAT}' header)")
        missing = [c for c in (*_KEY, "verdict") if c not in df.columns]
        if missing:
            raise VerdictError(f"{path} lacks column(s) {', '.join(missing)}")
        records = []
        for i, rec in enumerate(df.to_dict("records")):
            rec = {k: (None if (isinstance(v, str) and v == "" and k != "note") else v)
                   for k, v in rec.items() if k in _COLUMNS}
            try:
                self._row(rec)
            except VerdictError as e:
                raise VerdictError(f"{path}, row {i + 1}: {e}") from None
            records.append(rec)
        return self.set_many(records, change=f"import:{path.name}")
