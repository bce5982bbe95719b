"""Which moment of the data a query reads: a materialization version or a timestamp."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from napari_crant.sources.base import DataSource

MaterializationLike = str | int | dt.datetime | pd.Timestamp | np.datetime64 | np.integer

_ACCEPTED = "'latest', 'live', a version number or an ISO 8601 time such as '2025-06-01T12:00:00Z'"


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

    @cached_property
    def timestamp_us(self) -> int:
        """``timestamp`` as integer microseconds since the epoch."""
        return int(self.timestamp.value // 1000)

    def describe(self) -> dict[str, Any]:
        """Provenance fields for ``DataFrame.attrs`` (a new dict each call)."""
        return dict(self._description)

    @cached_property
    def _description(self) -> dict[str, Any]:
        return {
            "materialization": self.requested,
            "materialization_version": self.version,
            "timestamp": self.timestamp.isoformat(),
        }


def to_utc(ts: dt.datetime | pd.Timestamp | np.datetime64 | str) -> pd.Timestamp:
    """A timestamp in UTC; naive values are taken to be UTC already."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def parse_moment(value: Any, name: str = "materialization") -> pd.Timestamp:
    """A datetime, ``pd.Timestamp``, ``np.datetime64`` or ISO 8601 text as a UTC timestamp.

    Text must be ISO 8601 (``2025-06-01``, ``2025-06-01T12:00``, ``...Z``, ``...+02:00``):
    ``"1/2/3"`` or ``"March"`` are ambiguous and refused rather than guessed.

    Raises
    ------
    MaterializationError
        For NaT, empty or non-ISO text, and moments outside pandas' range (1677-2262),
        naming ``name`` (the parameter) and the value.
    """
    given = value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise MaterializationError(f"{name} {value!r} is empty; give {_ACCEPTED}")
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise MaterializationError(
                f"{name} {value!r} is not {_ACCEPTED}; other date formats are ambiguous"
            ) from None
    if value is pd.NaT or (isinstance(value, np.datetime64) and np.isnat(value)):
        raise MaterializationError(f"{name} {given!r} is not a moment (NaT); give {_ACCEPTED}")
    try:
        ts = to_utc(value).as_unit("ns")  # nanoseconds: pandas' range, 1677-09-21 to 2262-04-11
    except (ValueError, OverflowError):  # OutOfBoundsDatetime is a ValueError
        raise MaterializationError(
            f"{name} {given!r} is outside the supported range "
            f"({pd.Timestamp.min.year + 1}-{pd.Timestamp.max.year - 1})"
        ) from None
    if ts is pd.NaT:
        raise MaterializationError(f"{name} {given!r} is not a moment (NaT); give {_ACCEPTED}")
    return ts


#: How far past the source's clock a timestamp may lie (clock skew) before it is refused.
FUTURE_TOLERANCE = pd.Timedelta(seconds=5)


def _at_past_moment(source: Any, ts: pd.Timestamp, name: str = "materialization") -> Materialization:
    """A live query at ``ts``, refused if ``ts`` is in the future (as CAVE's live queries refuse it)."""
    now = to_utc(source.now())
    if ts > now + FUTURE_TOLERANCE:
        raise MaterializationError(
            f"{name} {ts.isoformat()} is in the future (now is {now.isoformat()}); "
            "use 'live' for the current state"
        )
    return Materialization(ts, None, ts.isoformat())


@lru_cache(maxsize=64)
def _latest(timestamp: pd.Timestamp, version: int) -> Materialization:
    """The ``'latest'`` materialization of a version (one object per version: immutable)."""
    return Materialization(to_utc(timestamp), version, "latest")


@lru_cache(maxsize=64)
def _pinned(timestamp: pd.Timestamp, version: int) -> Materialization:
    """A pinned version's materialization (one object per version: immutable)."""
    return Materialization(to_utc(timestamp), version, str(version))


def resolve_materialization(
    source: DataSource, materialization: MaterializationLike, name: str = "materialization"
) -> Materialization:
    """Turn ``'latest'``, ``'live'``, a version number or a datetime into a :class:`Materialization`.

    Parameters
    ----------
    source
        The dataset's source (its versions and its idea of "now").
    materialization
        ``'latest'``: the newest valid version. ``'live'``: now. An ``int``: that version,
        which must exist and be valid. A ``datetime``/``pd.Timestamp``/``np.datetime64`` or
        ISO 8601 text: a live query at that moment (naive times are UTC). Empty text, NaT,
        ambiguous text (``"1/2/3"``) and moments outside 1678-2261 are refused.

    Raises
    ------
    MaterializationError
        Naming the value and what is accepted.

    name
        The parameter's name, used in error messages.

    Returns
    -------
    Materialization
    """
    if isinstance(materialization, Materialization):
        return materialization
    if isinstance(materialization, str) and materialization.strip().lower() == "latest":
        # the hot path of every query: no frame operations
        newest = source.newest_version()
        if newest is None:
            raise MaterializationError(f"dataset {source.name!r} has no valid version")
        return _latest(*newest)
    if isinstance(materialization, str):
        key = materialization.strip().lower()
        if key == "live":
            return Materialization(to_utc(source.now()), None, "live")
        if key.isascii() and key.isdigit():
            return resolve_materialization(source, int(key), name)
        return _at_past_moment(source, parse_moment(materialization, name), name)
    if isinstance(materialization, bool | np.bool_):
        raise MaterializationError(f"{name} {materialization!r} is not valid (a boolean)")
    if isinstance(materialization, int | np.integer):
        v = int(materialization)
        moment = source.version_timestamp(v)  # the hot path of a pinned query: no frame operations
        if moment is not None:
            return _pinned(moment, v)
        versions = source.versions()
        valid = versions[versions["valid"]]
        row = versions[versions["version"] == v]
        if row.empty:
            known = ", ".join(str(x) for x in sorted(valid["version"].tolist()))
            raise MaterializationError(
                f"{name} version {v} does not exist in dataset {source.name!r} "
                f"(valid versions: {known})"
            )
        if not bool(row["valid"].iloc[0]):
            known = ", ".join(str(x) for x in sorted(valid["version"].tolist()))
            raise MaterializationError(
                f"{name} version {v} of dataset {source.name!r} has expired "
                f"(valid versions: {known})"
            )
        return Materialization(to_utc(row["timestamp"].iloc[0]), v, str(v))
    if isinstance(materialization, dt.datetime | pd.Timestamp | np.datetime64) or materialization is pd.NaT:
        return _at_past_moment(source, parse_moment(materialization, name), name)
    raise MaterializationError(
        f"{name} {materialization!r} ({type(materialization).__name__}) is not "
        f"{_ACCEPTED}, a datetime or a pandas Timestamp"
    )
