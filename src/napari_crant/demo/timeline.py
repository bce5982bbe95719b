"""The demo's calendar: when the initial roots appear, when edits run, the versions.

Times are UTC; the stages work in int64 microseconds since the epoch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Timeline (UTC). Initial roots appear at ``START``; edits run until ``EDITS_END``.
START = "2025-06-01T00:00:00"
EDITS_END = "2026-08-31T00:00:00"
#: (version, timestamp, valid) of the materializations.
VERSIONS = (
    (1, "2025-07-01T05:00:00", False),
    (2, "2025-10-01T05:00:00", True),
    (3, "2026-01-15T05:00:00", True),
    (4, "2026-04-15T05:00:00", True),
)
US_PER_DAY = 86_400_000_000


def timestamp_us(ts: str) -> int:
    """An ISO timestamp (UTC) as int64 microseconds since the epoch."""
    return int(np.datetime64(ts, "us").astype(np.int64))


def to_utc(us: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """int64 microseconds -> UTC timestamps (``NaT`` where ``missing``)."""
    t = np.asarray(us, dtype=np.int64).astype("datetime64[us]")
    if missing is not None:
        t[missing] = np.datetime64("NaT")
    return pd.Series(t).dt.tz_localize("UTC")
