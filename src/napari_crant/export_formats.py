"""Which file formats exports support, checked before anything is written, and reading tables back.

Tables (partner rows, adjacency matrices) are written by :func:`napari_crant.scene.tables.export_table`:
CSV with provenance as ``#`` header lines, or Parquet with provenance in the schema metadata
(key ``napari_crant.provenance``). Figures (the adjacency heat map) are written as PNG or SVG by
the docks. A path with any other extension is refused with an :class:`ExportError` that lists
the supported formats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

#: Table formats: extension -> description (as shown in file dialogs and error messages).
TABLE_FORMATS = {".csv": "CSV (provenance in # header lines)", ".parquet": "Parquet (provenance in metadata)"}
#: Figure formats of the heat map.
IMAGE_FORMATS = {".png": "PNG image", ".svg": "SVG image"}
#: Schema metadata key of the provenance in Parquet exports.
PARQUET_PROVENANCE_KEY = b"napari_crant.provenance"


class ExportError(ValueError):
    """An export was asked for in a format that is not supported (the message lists those that are)."""


def export_kind(path: Any, formats: dict[str, str]) -> str:
    """The lower-case extension of ``path`` if it is one of ``formats``.

    Parameters
    ----------
    path
        Where the export goes.
    formats
        Supported extensions (e.g. :data:`TABLE_FORMATS`, or it merged with :data:`IMAGE_FORMATS`).

    Raises
    ------
    ExportError
        The extension is missing or not supported; the message names it and lists the formats.
    """
    suffix = Path(str(path)).suffix.lower()
    if suffix in formats:
        return suffix
    listed = ", ".join(f"{ext} ({desc})" for ext, desc in formats.items())
    got = f"{suffix!r}" if suffix else "no extension"
    raise ExportError(f"cannot export to {Path(str(path)).name!r} ({got}); supported formats: {listed}")


def file_dialog_filter(formats: dict[str, str]) -> str:
    """A Qt file dialog filter string (``'CSV … (*.csv);;Parquet … (*.parquet)'``) for ``formats``."""
    return ";;".join(f"{desc} (*{ext})" for ext, desc in formats.items())


def read_table(path: Any) -> pd.DataFrame:
    """Read a CSV or Parquet table written by an export, with its provenance in ``attrs``.

    Columns ending in ``_id`` are read as uint64 (exact 18-digit IDs).

    Parameters
    ----------
    path
        A ``.csv`` or ``.parquet`` file.

    Returns
    -------
    pandas.DataFrame
        The table; ``attrs`` holds the provenance (values as text for CSV, as written for Parquet).
    """
    import numpy as np

    path = Path(path)
    kind = export_kind(path, TABLE_FORMATS)
    if kind == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        df = table.to_pandas()
        raw = (table.schema.metadata or {}).get(PARQUET_PROVENANCE_KEY)
        prov = json.loads(raw) if raw else {}
    else:
        prov = {}
        with open(path) as f:
            for line in f:
                if not line.startswith("#"):
                    break
                key, _, value = line[1:].strip().partition(": ")
                prov[key] = value
        header = pd.read_csv(path, comment="#", nrows=0).columns
        df = pd.read_csv(path, comment="#", dtype={c: str for c in header if str(c).endswith("_id")})
    for c in df.columns:
        if str(c).endswith("_id"):
            df[c] = np.array([int(v) for v in df[c]], dtype=np.uint64)
    df.attrs = prov
    return df
