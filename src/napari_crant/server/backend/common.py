"""What the backend modules share: their error type and CAVE's time format."""

from __future__ import annotations

import pandas as pd

from napari_crant.materialization import Materialization


class BackendError(ValueError):
    """A request the backend cannot answer (bad table, column, version, filter value...).

    The server answers it with HTTP 400 and the message.
    """


def cave_time_string(ts: pd.Timestamp) -> str:
    """``%Y-%m-%dT%H:%M:%S.%f`` in naive UTC, the format caveclient parses."""
    return ts.tz_convert("UTC").tz_localize(None).strftime("%Y-%m-%dT%H:%M:%S.%f")


def at_moment(ts: pd.Timestamp, version: int | None = None) -> Materialization:
    """The :class:`~napari_crant.materialization.Materialization` of a server-side moment."""
    return Materialization(ts, version, "server")
