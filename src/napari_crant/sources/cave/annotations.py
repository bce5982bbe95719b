"""Annotation tables of a CAVE dataset, and the list-valued fields they store as text.

An annotation source is a Parquet/CSV file, a snapshot directory, or ``"cave:<table_name>"``
(a materialization table read whole, see
:attr:`~napari_crant.sources.cave.config.CaveDatasetConfig.annotation_source`). List-valued
fields (``status``, ``alternative_names``) travel as text: :func:`encode_list_field` and
:func:`decode_list_field` convert.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.snapshot import format as fmt
from napari_crant.sources.cave.errors import CaveError, CaveServerError
from napari_crant.sources.cave.tables import TableReader, to_uint64

#: Seconds an annotation table read from CAVE (``annotation_source="cave:..."``) is reused.
ANNOTATION_CACHE_S = 300.0
#: Prefix of ``annotation_source`` naming a CAVE materialization table.
CAVE_TABLE_PREFIX = "cave:"
#: CAVE bookkeeping columns dropped from an annotation table (``pt_*`` are mapped, not dropped).
_CAVE_BOOKKEEPING = ("id", "created", "superceded_id", "valid", "deleted", "target_id")


def encode_list_field(value: Any) -> str | None:
    """A list-valued annotation as one string: ``None`` stays ``None``, ``[]`` is ``""``.

    Elements are comma-joined; if any element contains a comma the list is JSON-encoded instead.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        value = [value]
    items = [str(v) for v in value]
    if any("," in v for v in items) or (items and items[0].startswith("[")):
        return json.dumps(items)
    return ",".join(items)


def decode_list_field(value: Any) -> list[str] | None:
    """Inverse of :func:`encode_list_field` (lists pass through)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    text = str(value)
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            return [str(v) for v in data]
    return text.split(",") if text else []


def cave_table_name(source: str | None) -> str | None:
    """The table of a ``"cave:<table>"`` annotation source, else ``None``."""
    if source is None or not str(source).startswith(CAVE_TABLE_PREFIX):
        return None
    table = str(source)[len(CAVE_TABLE_PREFIX):].strip()
    if not table:
        raise CaveError(f"annotation source {source!r} names no table (use 'cave:<table_name>')")
    return table


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"root_id": np.array([], np.uint64), "supervoxel_id": np.array([], np.uint64)})


def read_annotation_file(source: str | None) -> pd.DataFrame:
    """The annotation table of a Parquet/CSV file or a snapshot directory (``None``: empty)."""
    if source is None:
        return _empty()
    p = Path(source).expanduser()
    if p.is_dir():
        p = p / fmt.ANNOTATIONS
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    if p.suffix in (".csv", ".tsv"):
        return pd.read_csv(p, sep="\t" if p.suffix == ".tsv" else ",", dtype={"root_id": "uint64"})
    raise CaveError(f"annotation source {source!r} is not a Parquet/CSV file or a snapshot directory")


def read_annotation_table(reader: TableReader, versions: pd.DataFrame, table: str) -> pd.DataFrame:
    """Read annotation table ``table`` whole at the latest valid version and map its columns.

    Parameters
    ----------
    reader
        The dataset's table reader.
    versions
        The dataset's versions (``version``, ``valid``).
    table
        The materialization table.

    Returns
    -------
    pandas.DataFrame
        ``root_id``, ``supervoxel_id``, the annotation fields and ``x, y, z`` in nm.
    """
    connection = reader.connection
    where = connection.where
    valid = versions[versions["valid"]]
    if valid.empty:
        raise CaveError(f"{where}: no valid materialization version to read annotation table {table!r}")
    version = int(valid["version"].max())
    mat = connection.service("materialize")
    tables = connection.run("listing tables", lambda: mat.get_tables(version=version))
    if isinstance(tables, list) and table not in tables:
        shown = ", ".join(str(t) for t in tables[:20]) + (" ..." if len(tables) > 20 else "")
        raise CaveError(
            f"{where}: annotation table {table!r} not found at version {version} (tables: {shown})")
    pages = reader.read_whole(table, f"querying annotation table {table!r}", version,
                              check_first=lambda df: _check_columns(df, table, where))
    return annotation_frame(pages, table, where)


def _check_columns(df: pd.DataFrame, table: str, where: str) -> None:
    missing = [c for c in ("pt_root_id", "pt_supervoxel_id") if c not in df.columns]
    if missing:
        raise CaveError(
            f"{where}: annotation table {table!r} lacks column(s) {missing} "
            f"(has: {', '.join(map(str, df.columns))}); it needs a bound spatial point 'pt' "
            "(pt_root_id, pt_supervoxel_id)")


def annotation_frame(pages: list[pd.DataFrame], table: str, where: str) -> pd.DataFrame:
    """CAVE rows of an annotation table as napari-crant's annotation DataFrame."""
    raw = pd.concat(pages, ignore_index=True) if pages else pd.DataFrame()
    if not len(raw):
        return _empty()
    _check_columns(raw, table, where)
    if "id" in raw.columns:
        if raw["id"].duplicated().any():
            raise CaveServerError(
                f"{where}: paging through annotation table {table!r} returned overlapping pages")
        raw = raw.sort_values("id", kind="stable").reset_index(drop=True)
    if "valid" in raw.columns:
        raw = raw[raw["valid"].fillna(True).astype(bool)].reset_index(drop=True)
    try:
        out: dict[str, Any] = {"root_id": to_uint64(raw["pt_root_id"], "pt_root_id"),
                               "supervoxel_id": to_uint64(raw["pt_supervoxel_id"], "pt_supervoxel_id")}
    except (CaveServerError, ValueError, TypeError) as e:
        raise CaveError(f"{where}: annotation table {table!r}: bad ID column ({e})") from None
    skip = {*_CAVE_BOOKKEEPING, "root_id", "supervoxel_id", "x", "y", "z"}
    for col in raw.columns:
        if col in skip or str(col).startswith("pt_"):
            continue
        values = raw[col]
        if col in fmt.LIST_ANNOTATION_FIELDS:
            out[col] = pd.Series([decode_list_field(v) for v in values], dtype=object).to_numpy()
        elif col == "nucleus_id" and values.notna().all() and values.dtype.kind in "iu":
            out[col] = values.to_numpy().astype(np.uint64)
        else:
            out[col] = values.to_numpy()
    if all(f"pt_position_{a}" in raw.columns for a in "xyz"):
        for a in "xyz":
            # positions arrive in nm (desired_resolution 1 nm); round off float noise of the scaling
            out[a] = np.round(raw[f"pt_position_{a}"].to_numpy(np.float64), 6)
    return pd.DataFrame(out)
