"""Verdict export files (CSV or Parquet with provenance) and reading them back safely.

A file is recognised by its header before anything else is read: the first line of a CSV
(``# format: napari-crant-verdicts``), the schema metadata of a Parquet file. A foreign file of
any size is refused after reading a few bytes; a bad value names the file and the row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd

import napari_crant
from napari_crant.qc.verdict_values import (
    COLUMNS,
    EXPORT_FORMAT,
    ID_COLUMNS,
    KEY,
    SCHEMA_VERSION,
    VerdictError,
    verdict_row,
)

#: Longest header line read from a CSV file (a foreign file may have no line breaks at all).
_MAX_HEADER_LINE = 4096
_REQUIRED = (*KEY, "verdict")


def write_verdict_file(verdicts: pd.DataFrame, path: Path, dataset: str | None) -> Path:
    """Write ``verdicts`` (as from ``VerdictStore.verdicts``) to CSV or Parquet by extension.

    CSV files start with ``# key: value`` comment lines; Parquet files carry the same in
    their schema metadata under ``napari_crant``. Written aside and renamed into place.
    """
    meta = {
        "format": EXPORT_FORMAT, "schema_version": SCHEMA_VERSION,
        "napari_crant_version": napari_crant.__version__,
        "exported_at": pd.Timestamp.now(tz="UTC").isoformat(), "dataset": dataset or "all",
        "rows": len(verdicts),
    }
    out = verdicts.copy()
    for c in ID_COLUMNS:
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


def _not_ours(path: Path) -> VerdictError:
    return VerdictError(f"{path} is not a napari-crant verdict export (no '{EXPORT_FORMAT}' header)")


def _csv_header(path: Path) -> tuple[dict[str, str], int, list[str]]:
    """``(meta, comment lines, column names)`` from the top of a CSV, reading only that."""
    meta: dict[str, str] = {}
    with open(path, "rb") as f:  # bytes: decoding must not read ahead into a foreign file
        if f.readline(_MAX_HEADER_LINE).rstrip(b"\r\n") != f"# format: {EXPORT_FORMAT}".encode():
            raise _not_ours(path)
        meta["format"] = EXPORT_FORMAT
        while True:
            line = f.readline(_MAX_HEADER_LINE).decode("utf-8", errors="replace")
            if not line.startswith("# "):
                break
            k, _, v = line[2:].rstrip("\r\n").partition(": ")
            meta[k] = v
        columns = next(csv.reader([line]), [])
    return meta, len(meta), columns


def _read_frame(path: Path) -> pd.DataFrame:
    """The rows of a verdict export whose header was found to be ours (all values as text)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)  # the footer only
        raw = (schema.metadata or {}).get(b"napari_crant")
        meta = json.loads(raw) if raw else {}
        if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
            raise _not_ours(path)
        columns = list(schema.names)
    elif suffix == ".csv":
        meta, skip, columns = _csv_header(path)
    else:
        raise VerdictError(f"import .csv or .parquet files, not {path.suffix or 'no extension'!r}")
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise VerdictError(f"{path} lacks column(s) {', '.join(missing)}")
    if suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    return pd.read_csv(path, skiprows=skip, dtype=str, keep_default_na=False)


def read_verdict_file(path: Path) -> list[dict[str, Any]]:
    """The verdict records of an export file, each validated.

    Raises
    ------
    VerdictError
        For a missing, foreign or corrupt file (checked from its header, before its rows are
        read) and for a bad value, naming the file, the row and the value.
    """
    if not path.is_file():
        raise VerdictError(f"{path} does not exist")
    try:
        df = _read_frame(path)
    except VerdictError:
        raise
    except Exception as e:
        raise VerdictError(f"{path} could not be read as a verdict file: {e}") from None
    records = []
    for i, rec in enumerate(df.to_dict("records")):
        rec = {k: (None if (isinstance(v, str) and v == "" and k != "note") else v)
               for k, v in rec.items() if k in COLUMNS}
        try:
            verdict_row(rec)
        except VerdictError as e:
            raise VerdictError(f"{path}, row {i + 1}: {e}") from None
        records.append(rec)
    return records
