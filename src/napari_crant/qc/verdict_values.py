"""What a verdict is: its fields, their validation, and the errors of the verdict store."""

from __future__ import annotations

import getpass
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The verdicts a reviewer can give, in key order.
VERDICTS = ("correct", "false_positive", "wrong_partner", "unsure")
ENV_DATA_DIR = "NAPARI_CRANT_DATA_DIR"
SCHEMA_VERSION = 1

KEY = ("dataset", "synapse_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id")
COLUMNS = (
    *KEY, "verdict", "note", "reviewer", "reviewed_at", "pre_pt_root_id", "post_pt_root_id",
    "materialization", "x", "y", "z",
)
ID_COLUMNS = ("synapse_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id", "pre_pt_root_id",
               "post_pt_root_id")
EXPORT_FORMAT = "napari-crant-verdicts"


class VerdictError(ValueError):
    """A verdict, or a file of verdicts, that cannot be stored."""


class VerdictStoreBusyError(VerdictError):
    """Another process holds the verdict database's lock."""


class VerdictStoreReadOnlyError(VerdictError):
    """The verdict database, or its folder, cannot be written."""


def store_error(e: BaseException, path: Path) -> VerdictError:
    """A clear error, naming ``path``, for an SQLite or file-system failure."""
    code = getattr(e, "sqlite_errorname", "") or ""
    text = str(e)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return VerdictStoreBusyError(
            f"verdict database {path} is busy: another process holds its lock ({text})"
        )
    if (code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"))
            or isinstance(e, PermissionError) or "readonly" in text):
        return VerdictStoreReadOnlyError(
            f"verdict database {path} cannot be written: the file or its folder is read-only "
            f"or not accessible ({text})"
        )
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return VerdictError(f"{path} is not a napari-crant verdict database ({text})")
    return VerdictError(f"verdict database {path}: {text}")


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


def id_text(value: Any, name: str) -> str:
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


def coordinate(value: Any, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise VerdictError(f"{name} {value!r} is not a coordinate")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise VerdictError(f"{name} {value!r} is not a number") from None
    if math.isnan(number):
        return None
    if not math.isfinite(number):
        raise VerdictError(f"{name} {value!r} is not a finite number")
    return number


def review_time(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return pd.Timestamp.now(tz="UTC").isoformat()
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        raise VerdictError(f"reviewed_at {value!r} is not a time (give ISO 8601)") from None
    if ts is pd.NaT:
        raise VerdictError(f"reviewed_at {value!r} is not a time (give ISO 8601)")
    return ts.isoformat()


def id_frame(df: pd.DataFrame) -> pd.DataFrame:
    """ID columns stored as text -> uint64 (object where some are missing)."""
    for c in ID_COLUMNS:
        if c in df:
            if df[c].notna().all():
                df[c] = np.array([int(v) for v in df[c]], dtype=np.uint64)
            else:
                df[c] = df[c].astype(object)
    return df


def verdict_row(rec: dict[str, Any]) -> tuple:
    """A verdict record as a stored row (``COLUMNS`` order), validated.

    Raises
    ------
    VerdictError
        Naming the field and the value that is wrong.
    """
    verdict = rec.get("verdict")
    if verdict not in VERDICTS:
        raise VerdictError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    dataset = rec.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise VerdictError(f"dataset must be a non-empty name, not {dataset!r}")
    out = []
    for c in COLUMNS:
        v = rec.get(c)
        if c in ID_COLUMNS:
            required = c in KEY
            if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v):
                if required:
                    raise VerdictError(f"{c} is required")
                v = None
            else:
                v = id_text(v, c)
        elif c in "xyz":
            v = coordinate(v, c)
        elif c == "reviewed_at":
            v = review_time(v)
        elif c == "reviewer":
            v = str(v or default_reviewer())
        elif v is not None and not isinstance(v, str):
            v = str(v)
        out.append(v)
    return tuple(out)
