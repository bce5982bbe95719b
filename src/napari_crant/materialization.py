"""Which moment of the data a query reads: a materialization version or a timestamp."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from napari_crant.sources.base import DataSource

MaterializationLike = str | int | dt.datetime | pd.Timestamp | np.integer


class MaterializationError(ValueError):
    """A materialization (version or timestamp) that the dataset cannot answer for."""


@dataclass(frozen=True)
class Materialization:
    """A resolved point in the data's history.

    Attributes
    ----------
    timestamp
        The moment root IDs are taken at (UTC).
    version
        The materialization version, or ``None`` for a live query at ``timestamp``.
    requested
        What the user asked for, as text (``"latest"``, ``"live"``, ``"3"``, an ISO time).
    """

    timestamp: pd.Timestamp
    version: int | None
    requested: str

    @property
    def timestamp_us(self) -> int:
        """``timestamp`` as integer microseconds since the epoch."""
        return int(self.timestamp.value // 1000)

    def describe(self) -> dict[str, Any]:
        """Provenance fields for ``DataFrame.attrs``."""
        return {
            "materialization": self.requested,
            "materialization_version": self.version,
            "timestamp": self.timestamp.isoformat(),
        }


def to_utc(ts: dt.datetime | pd.Timestamp | str) -> pd.Timestamp:
    """A timestamp in UTC; naive values are taken to be UTC already."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def resolve_materialization(source: DataSource, materialization: MaterializationLike) -> Materialization:
    """Turn ``'latest'``, ``'live'``, a version number or a datetime into a :class:`Materialization`.

    Parameters
    ----------
    source
        The dataset's source (its versions and its idea of "now").
    materialization
        ``'latest'``: the newest valid version. ``'live'``: now. An ``int``: that version,
        which must exist and be valid. A ``datetime``/``pd.Timestamp`` (or an ISO string):
        a live query at that moment (naive datetimes are UTC).

    Returns
    -------
    Materialization
    """
    if isinstance(materialization, Materialization):
        return materialization
    versions = source.versions()
    if isinstance(materialization, str) and materialization.strip().lower() == "latest":
        # the hot path of every query: numpy, no frame operations
        number = versions["version"].to_numpy(np.int64)
        ok = versions["valid"].to_numpy(bool)
        if not ok.any():
            raise MaterializationError(f"dataset {source.name!r} has no valid version")
        newest = int(np.flatnonzero(ok)[np.argmax(number[ok])])
        return Materialization(to_utc(versions["timestamp"].iloc[newest]), int(number[newest]), "latest")
    valid = versions[versions["valid"]]
    if isinstance(materialization, str):
        key = materialization.strip().lower()
        if key == "live":
            return Materialization(to_utc(source.now()), None, "live")
        if key.isdigit():
            return resolve_materialization(source, int(key))
        try:
            ts = to_utc(materialization)
        except (ValueError, TypeError):
            raise MaterializationError(
                f"materialization {materialization!r} is not 'latest', 'live', a version "
                "number or a timestamp"
            ) from None
        return Materialization(ts, None, ts.isoformat())
    if isinstance(materialization, bool):
        raise MaterializationError(f"materialization {materialization!r} is not valid")
    if isinstance(materialization, int | np.integer):
        v = int(materialization)
        row = versions[versions["version"] == v]
        if row.empty:
            known = ", ".join(str(x) for x in sorted(valid["version"].tolist()))
            raise MaterializationError(
                f"materialization version {v} does not exist in dataset {source.name!r} "
                f"(valid versions: {known})"
            )
        if not bool(row["valid"].iloc[0]):
            known = ", ".join(str(x) for x in sorted(valid["version"].tolist()))
            raise MaterializationError(
                f"materialization version {v} of dataset {source.name!r} has expired "
                f"(valid versions: {known})"
            )
        return Materialization(to_utc(row["timestamp"].iloc[0]), v, str(v))
    if isinstance(materialization, dt.datetime | pd.Timestamp):
        ts = to_utc(materialization)
        return Materialization(ts, None, ts.isoformat())
    raise MaterializationError(
        f"materialization {materialization!r} ({type(materialization).__name__}) is not "
        "'latest', 'live', a version number or a datetime"
    )
