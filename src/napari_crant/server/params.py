"""Reading and checking what a request carries: JSON bodies, IDs, query parameters, times.

Each reader raises :class:`~napari_crant.server.http.BadRequest` naming the field and the bad
value, so any malformed request is a 400 with a message, never a 500. IDs are integers from 0 to
2**64 - 1, given as JSON integers or decimal strings; floats are refused (float64 rounds an
18-digit ID onto another one).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Request

from napari_crant.server.backend.common import BackendError, id_list
from napari_crant.server.http import BadRequest

#: Epoch seconds the server accepts (pandas' datetime range, with a margin).
_EPOCH_RANGE = (-9.0e9, 9.0e9)
_ID_LIMIT = 2**64


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object body (empty body: ``{}``)."""
    if not raw:
        return {}
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as e:
        raise BadRequest(f"request body is not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, NaN/Infinity, integers of over 4300 digits
        raise BadRequest(f"request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, not {type(body).__name__}")
    return body


def body_ids(body: dict[str, Any], key: str) -> np.ndarray:
    """The uint64 IDs listed under ``key`` of a JSON body (missing: none)."""
    try:
        return id_list(body.get(key, []), key)
    except BackendError as e:
        raise BadRequest(str(e)) from None


def path_id(text: str, name: str) -> int:
    """An ID given in the URL path."""
    if not (text.isascii() and text.isdigit()) or int(text) >= _ID_LIMIT:
        raise BadRequest(f"{name}: {text!r} is not an ID (an integer from 0 to 2**64 - 1)")
    return int(text)


def binary_ids(raw: bytes, name: str = "body") -> np.ndarray:
    """IDs sent as little-endian uint64 bytes."""
    if len(raw) % 8:
        raise BadRequest(f"{name}: {len(raw)} bytes is not a whole number of uint64 IDs (8 bytes each)")
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


def query_text(request: Request, name: str) -> str | None:
    """A query parameter's text (None when absent); a repeated parameter is refused."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"query parameter {name} is given {len(values)} times")
    return values[0] if values else None


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    """``True``/``False`` (any case) or absent."""
    text = query_text(request, name)
    if text is None:
        return default
    if text.lower() not in ("true", "false", "1", "0"):
        raise BadRequest(f"query parameter {name}: {text!r} is not true or false")
    return text.lower() in ("true", "1")


def query_int(request: Request, name: str, default: int | None = None) -> int | None:
    """An integer query parameter (absent: ``default``)."""
    text = query_text(request, name)
    if text is None or text == "":
        return default
    stripped = text.strip()
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not (body.isascii() and body.isdigit()) or len(body) > 30:
        raise BadRequest(f"query parameter {name}: {text!r} is not an integer")
    return int(stripped)


def epoch_timestamp(value: Any, name: str) -> pd.Timestamp:
    """Epoch seconds (UTC; number or text) as a timestamp; refuses NaN, infinities, out of range."""
    if isinstance(value, bool):
        raise BadRequest(f"{name}: {value!r} is not a time in epoch seconds")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name}: {value!r} is not a time in epoch seconds") from None
    if not math.isfinite(seconds) or not _EPOCH_RANGE[0] < seconds < _EPOCH_RANGE[1]:
        raise BadRequest(f"{name}: {value!r} is not a time between the years 1700 and 2250 in epoch seconds")
    return pd.Timestamp(round(seconds * 1e6), unit="us", tz="UTC")


def query_timestamp(request: Request, name: str = "timestamp",
                    now_if_absent: bool = True) -> pd.Timestamp | None:
    """A chunkedgraph time parameter (epoch seconds); absent: now (or None)."""
    text = query_text(request, name)
    if text is None or text == "":
        return pd.Timestamp.now(tz="UTC") if now_if_absent else None
    return epoch_timestamp(text, f"query parameter {name}")


def iso_timestamp(value: Any, name: str) -> pd.Timestamp:
    """An ISO 8601 time from a JSON body (UTC if it carries no zone); ``None``/``"now"``: now."""
    if value is None or value == "now":
        return pd.Timestamp.now(tz="UTC")
    if not isinstance(value, str):
        raise BadRequest(f"{name}: {value!r} is not an ISO 8601 time")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, OverflowError, TypeError) as e:
        raise BadRequest(f"{name}: {value!r} is not an ISO 8601 time ({e})") from None
    if pd.isna(ts):
        raise BadRequest(f"{name}: {value!r} is not a time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def body_count(body: dict[str, Any], key: str) -> int | None:
    """A non-negative integer (``limit``, ``offset``) of a JSON body; absent or null: None."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be a non-negative integer, not {value!r}")
    if value < 0:
        raise BadRequest(f"{key} must be a non-negative integer, not {value}")
    return value


def body_resolution(body: dict[str, Any], key: str = "desired_resolution") -> list[float] | None:
    """Three positive finite numbers (nm per unit) of a JSON body; absent or null: None."""
    value = body.get(key)
    if value is None:
        return None
    ok = (isinstance(value, list) and len(value) == 3
          and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
          and all(math.isfinite(v) and v > 0 for v in value))
    if not ok:
        raise BadRequest(f"{key} must be three positive numbers (nm per unit), not {value!r}")
    return [float(v) for v in value]


def string_list(value: Any, name: str) -> list[str] | None:
    """A list of strings (column names...); absent or null: None."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings, not {value!r}")
    return value
