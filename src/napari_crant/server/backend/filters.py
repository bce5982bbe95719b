"""Materialization query filters (``filter_in_dict`` ...): validated, then applied to a table frame.

Every value is checked against the column it filters before it is used, so a bad request is a
:class:`~napari_crant.server.backend.common.BackendError` naming the filter, the column and the
value (HTTP 400), never a pandas/numpy error: ID columns take integers from 0 to 2**64 - 1 only
(a float would silently round an 18-digit ID onto another neuron), numeric columns finite numbers,
time columns ISO 8601 times, regular expressions must compile.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.server.backend.common import BackendError, id_list

#: The filters the server understands (caveclient's ``filter_out_dict`` arrives as ``filter_notin_dict``).
FILTER_KEYS = ("filter_in_dict", "filter_notin_dict", "filter_equal_dict", "filter_greater_dict",
               "filter_less_dict", "filter_greater_equal_dict", "filter_less_equal_dict",
               "filter_spatial_dict", "filter_regex_dict")
#: Columns holding uint64 IDs (served as int64, as CAVE does).
ID_COLUMNS = ("id", "pre_pt_supervoxel_id", "pre_pt_root_id", "post_pt_supervoxel_id", "post_pt_root_id",
              "pt_supervoxel_id", "pt_root_id", "superceded_id")
_COMPARISONS = (("filter_greater_dict", np.greater), ("filter_less_dict", np.less),
                ("filter_greater_equal_dict", np.greater_equal), ("filter_less_equal_dict", np.less_equal))


def check_filter_shapes(filters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``filters`` if every key is a known filter holding ``{column: value}``; else BackendError."""
    for key, value in filters.items():
        if key not in FILTER_KEYS:
            raise BackendError(f"unsupported filter {key!r} (supported: {', '.join(FILTER_KEYS)})")
        if not isinstance(value, dict):
            raise BackendError(f"{key} must be an object {{column: value}}, not {type(value).__name__}")
    return filters


def filter_ids(filters: dict[str, dict[str, Any]], column: str) -> np.ndarray | None:
    """The IDs ``filter_in_dict``/``filter_equal_dict`` allow in ID column ``column`` (None: any)."""
    allowed: np.ndarray | None = None
    if column in (filters.get("filter_in_dict") or {}):
        allowed = _ids(filters["filter_in_dict"][column], f"filter_in_dict[{column!r}]", many=True)
    if column in (filters.get("filter_equal_dict") or {}):
        one = _ids(filters["filter_equal_dict"][column], f"filter_equal_dict[{column!r}]", many=False)
        allowed = one if allowed is None else np.intersect1d(allowed, one)
    return allowed


def apply_filters(df: pd.DataFrame, filters: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The rows of ``df`` matching every filter.

    Raises
    ------
    BackendError
        An unknown column, or a value that does not suit its column.
    """
    keep = np.ones(len(df), dtype=bool)
    for key, negate in (("filter_in_dict", False), ("filter_notin_dict", True)):
        for name, values in (filters.get(key) or {}).items():
            hit = _isin(df, name, values, f"{key}[{name!r}]")
            keep &= ~hit if negate else hit
    for name, value in (filters.get("filter_equal_dict") or {}).items():
        keep &= _isin(df, name, [value], f"filter_equal_dict[{name!r}]", many=False)
    for key, op in _COMPARISONS:
        for name, value in (filters.get(key) or {}).items():
            keep &= _compare(df, name, value, op, f"{key}[{name!r}]")
    for name, box in (filters.get("filter_spatial_dict") or {}).items():
        keep &= _inside(df, name, box, f"filter_spatial_dict[{name!r}]")
    for name, pattern in (filters.get("filter_regex_dict") or {}).items():
        where = f"filter_regex_dict[{name!r}]"
        if not isinstance(pattern, str):
            raise BackendError(f"{where}: the pattern must be a string, not {pattern!r}")
        try:
            regex = re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as e:
            raise BackendError(f"{where}: {pattern!r} is not a valid regular expression ({e})") from None
        col = _column(df, name, where)
        keep &= np.fromiter((regex.match(str(v)) is not None for v in col), dtype=bool, count=len(col))
    return df[keep]


def _ids(value: Any, where: str, many: bool) -> np.ndarray:
    return id_list(value if many else [value], where)


def _column(df: pd.DataFrame, name: str, where: str) -> pd.Series:
    if name not in df.columns:
        raise BackendError(f"{where}: no column {name!r} in this table (columns: {', '.join(df.columns)})")
    return df[name]


def _kind(col: pd.Series) -> str:
    if col.name in ID_COLUMNS:
        return "id"
    if pd.api.types.is_bool_dtype(col.dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return "time"
    if pd.api.types.is_numeric_dtype(col.dtype):
        return "number"
    return "text"


def _scalar(col: pd.Series, value: Any, where: str) -> Any:
    """``value`` converted for comparison with ``col``; BackendError if it does not suit it."""
    kind = _kind(col)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BackendError(f"{where}: {value!r} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise BackendError(f"{where}: {value!r} is not a finite number")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise BackendError(f"{where}: {value!r} is not true or false")
        return value
    if kind == "time":
        if not isinstance(value, str):
            raise BackendError(f"{where}: {value!r} is not an ISO 8601 time")
        try:
            ts = pd.Timestamp(value)
        except (ValueError, OverflowError, TypeError) as e:
            raise BackendError(f"{where}: {value!r} is not an ISO 8601 time ({e})") from None
        if pd.isna(ts):
            raise BackendError(f"{where}: {value!r} is not a time")
        return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
    if not (value is None or isinstance(value, str | int | float | bool)):
        raise BackendError(f"{where}: {value!r} is not a single value")
    return value


def _as_u64(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The ID column as uint64 and the mask of its non-null rows."""
    present = col.notna().to_numpy()
    values = np.zeros(len(col), dtype=np.uint64)
    values[present] = col[present].to_numpy().astype(np.int64).view(np.uint64)
    return values, present


def _isin(df: pd.DataFrame, name: str, values: Any, where: str, many: bool = True) -> np.ndarray:
    col = _column(df, name, where)
    if _kind(col) == "id":
        col_ids, present = _as_u64(col)
        return present & np.isin(col_ids, _ids(values if many else values[0], where, many))
    if not isinstance(values, list):
        raise BackendError(f"{where}: expected a list, not {type(values).__name__}")
    wanted = [_scalar(col, v, where) for v in values]
    return col.isin(wanted).to_numpy(dtype=bool)


def _compare(df: pd.DataFrame, name: str, value: Any, op: Any, where: str) -> np.ndarray:
    col = _column(df, name, where)
    kind = _kind(col)
    if kind == "id":
        col_ids, present = _as_u64(col)
        return present & op(col_ids, np.uint64(_ids(value, where, many=False)[0]))
    if kind == "text":
        if not isinstance(value, str):
            raise BackendError(f"{where}: column {name!r} holds text; compare it with a string, "
                               f"not {value!r}")
        return np.fromiter((isinstance(v, str) and bool(op(v, value)) for v in col),
                                     dtype=bool, count=len(col))
    result = op(col, _scalar(col, value, where))
    return pd.Series(result).fillna(False).to_numpy(dtype=bool)


def _inside(df: pd.DataFrame, name: str, box: Any, where: str) -> np.ndarray:
    ok = (isinstance(box, list) and len(box) == 2
          and all(isinstance(c, list) and len(c) == 3 for c in box)
          and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                  for c in box for v in c))
    if not ok:
        raise BackendError(f"{where}: expected a box [[x0, y0, z0], [x1, y1, z1]] of finite numbers, "
                           f"not {box!r}")
    lo, hi = np.asarray(box[0], float), np.asarray(box[1], float)
    xyz = np.stack([_column(df, f"{name}_{a}", where).to_numpy(float) for a in "xyz"], axis=1)
    return ((xyz >= lo) & (xyz < hi)).all(axis=1)
