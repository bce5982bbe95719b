"""What the backend modules share: their error type and CAVE's time format."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.ids import InvalidIDError, parse_ids
from napari_crant.materialization import Materialization


class BackendError(ValueError):
    """A request the backend cannot answer (bad table, column, version, filter value...).

    The server answers it with HTTP 400 and the message.
    """


class UnknownTableError(BackendError):
    """A table the materialization service does not serve (HTTP 404; the message lists those it does)."""


def cave_time_string(ts: pd.Timestamp) -> str:
    """``%Y-%m-%dT%H:%M:%S.%f`` in naive UTC, the format caveclient parses."""
    return ts.tz_convert("UTC").tz_localize(None).strftime("%Y-%m-%dT%H:%M:%S.%f")


def at_moment(ts: pd.Timestamp, version: int | None = None) -> Materialization:
    """The :class:`~napari_crant.materialization.Materialization` of a server-side moment."""
    return Materialization(ts, version, "server")


def id_list(values: Any, where: str) -> np.ndarray:
    """A JSON list of IDs as uint64: integers from 0 to 2**64 - 1 or decimal strings, never floats.

    Raises
    ------
    BackendError
        Naming ``where`` and the first bad element (a float, a negative or too large number...).
    """
    if not isinstance(values, list):
        raise BackendError(f"{where}: expected a list of IDs, not {type(values).__name__}")
    if all(type(v) is int for v in values) and (not values or (min(values) >= 0 and max(values) < 2**64)):
        return np.array(values, dtype=np.uint64)  # the common case, without a check per element
    try:
        return parse_ids(values, where, allow_empty=True)
    except InvalidIDError as e:
        raise BackendError(str(e)) from None
