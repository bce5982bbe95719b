"""Reading materialization tables whole, however the server caps the rows of one answer.

CAVE caps the rows of one query (about 200,000 on production) and signals it only by returning
exactly that many rows, so :class:`TableReader` tracks what it knows about the server's cap
(:class:`RowCap`) and splits the ID batch, or pages with ``offset``, until every row is in:
results are never silently truncated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.materialization import Materialization
from napari_crant.sources.base import SYNAPSE_COLUMNS
from napari_crant.sources.cave.client import CaveConnection
from napari_crant.sources.cave.errors import CaveServerError

#: Seconds after which what was learnt about a server's row cap is forgotten and re-learnt.
CAP_MEMORY_S = 900.0
#: The row cap assumed when neither the configuration nor experience says otherwise.
DEFAULT_ROW_CAP = 200_000
_POSITIONS = tuple(f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz")


@dataclass
class RowCap:
    """What is known about the server's row cap (rows returned per query at most).

    Knowledge assumes the cap does not change; it is forgotten after :data:`CAP_MEMORY_S`.
    """

    exact: int | None = None
    at_least: int = 0
    since: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire(self) -> None:
        """Forget stale knowledge (call with ``lock`` held)."""
        if time.monotonic() - self.since > CAP_MEMORY_S:
            self.forget()

    def forget(self) -> None:
        """Forget everything learnt (call with ``lock`` held)."""
        self.exact, self.at_least, self.since = None, 0, time.monotonic()

    def learn(self, n: int, more: bool) -> None:
        """An answer of ``n`` rows had ``more`` rows after it (so ``n`` is the cap) or not."""
        with self.lock:
            if more:
                self.exact = n
            else:
                self.at_least = max(self.at_least, n)


def to_uint64(s: pd.Series, name: str) -> np.ndarray:
    """An ID column as uint64, refusing floating point (which corrupts IDs above 2**53)."""
    if s.isna().any():
        s = s.fillna(0)
    v = s.to_numpy()
    if v.dtype.kind == "f":
        raise CaveServerError(f"column {name!r} arrived as floating point: IDs would be corrupted")
    if v.dtype.kind == "O":
        v = np.array([int(x) for x in v], dtype=np.uint64)
    return v.astype(np.uint64)


def synapse_frame(parts: list[pd.DataFrame], resolution: np.ndarray, name: str) -> pd.DataFrame:
    """Raw rows of a synapse table (positions in voxels) as napari-crant's synapse DataFrame.

    Parameters
    ----------
    parts
        Answers of the synapse table.
    resolution
        The table's voxel resolution (nm), to turn positions into nm.
    name
        The dataset, for error messages.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        data: dict[str, Any] = {c: np.array([], np.uint64) for c in SYNAPSE_COLUMNS[:5]}
        data["size"] = np.array([], np.int64)
        data.update({c: np.array([], np.float64) for c in _POSITIONS})
        return pd.DataFrame(data, columns=list(SYNAPSE_COLUMNS))
    raw = pd.concat(parts, ignore_index=True)
    missing = [c for c in SYNAPSE_COLUMNS if c not in raw.columns]
    if missing:
        raise CaveServerError(f"{name}: synapse table answer lacks column(s) {missing}")
    out: dict[str, Any] = {}
    for c in SYNAPSE_COLUMNS[:5]:
        out[c] = to_uint64(raw[c], c)
    out["size"] = raw["size"].to_numpy().astype(np.int64)
    for c in _POSITIONS:
        out[c] = raw[c].to_numpy().astype(np.float64) * resolution["xyz".index(c[-1])]
    return pd.DataFrame(out, columns=list(SYNAPSE_COLUMNS))


class TableReader:
    """Complete answers from one dataset's materialization service.

    Parameters
    ----------
    connection
        The dataset's :class:`~napari_crant.sources.cave.client.CaveConnection`.
    """

    def __init__(self, connection: CaveConnection):
        self.connection = connection
        self.config = connection.config
        self.cap = RowCap()

    @property
    def _mat(self) -> Any:
        return self.connection.service("materialize")

    def reset_row_cap(self) -> None:
        """Forget what was learnt about the server's row cap (e.g. after the server changed it)."""
        with self.cap.lock:
            self.cap.forget()

    def limit(self) -> int:
        """The row limit to ask for: the learnt cap, else the configured one."""
        with self.cap.lock:
            self.cap.expire()
            if self.cap.exact is not None:
                return self.cap.exact
        return int(self.config.row_cap or DEFAULT_ROW_CAP)

    def complete(self, n: int, limit: int) -> bool | None:
        """Whether a response of ``n`` rows (asked with ``limit``) is surely complete (None: unsure)."""
        if n == 0:
            return True
        if n >= limit:
            return False
        with self.cap.lock:
            if self.cap.exact is not None or n < self.cap.at_least:
                return True
        return None

    def query_page(self, table: str, filters: dict[str, list[int]], at: Materialization,
                   limit: int, offset: int) -> pd.DataFrame:
        """One answer (at most ``limit`` rows from ``offset``) of a filtered query at ``at``."""
        mat = self._mat
        if at.version is not None:
            def call() -> pd.DataFrame:
                return mat.query_table(
                    table, filter_in_dict=filters, materialization_version=at.version,
                    split_positions=True, limit=limit, offset=offset or None, metadata=False,
                    merge_reference=False, desired_resolution=None, log_warning=False)
        else:
            ts = pd.Timestamp(at.timestamp).tz_convert("UTC").to_pydatetime()

            def call() -> pd.DataFrame:
                return mat.live_live_query(
                    table, ts, filter_in_dict={table: filters}, split_positions=True, limit=limit,
                    offset=offset or None, metadata=False, desired_resolution=None, log_warning=False)
        df = self.connection.run(f"querying {table}", call)
        if not isinstance(df, pd.DataFrame):
            raise CaveServerError(f"{self.config.name}: query of {table!r} did not return a table")
        return df

    def query_all(self, table: str, col: str, ids: np.ndarray, extra: dict[str, list[int]],
                  at: Materialization) -> list[pd.DataFrame]:
        """Every row with ``col`` in ``ids`` (and the ``extra`` filters), however the server caps.

        A response with as many rows as the limit may be truncated: the ID batch is split in
        two and both halves are queried again; a single ID is paged with ``offset``. A response
        with fewer rows but not fewer than any complete response seen so far could still be
        capped by a smaller server limit: one extra row is asked for at its end to decide, and
        the cap learnt from that is used from then on.
        """
        batch_size = self.config.id_batch
        out: list[pd.DataFrame] = []
        stack = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)][::-1]
        while stack:
            batch = stack.pop()
            filters = {col: [int(x) for x in batch], **extra}
            limit = self.limit()
            df = self.query_page(table, filters, at, limit, 0)
            n = len(df)
            done = self.complete(n, limit)
            if done is None:
                more = len(self.query_page(table, filters, at, 1, n)) > 0
                self.cap.learn(n, more)
                done = not more
            if done:
                out.append(df)
                continue
            if len(batch) > 1:
                half = len(batch) // 2
                stack += [batch[half:], batch[:half]]
                continue
            pages, offset = [df], n
            while True:
                limit = self.limit()
                page = self.query_page(table, filters, at, limit, offset)
                pages.append(page)
                offset += len(page)
                if not len(page) or len(page) < limit:
                    break
            full = pd.concat(pages, ignore_index=True)
            if "id" in full and full["id"].duplicated().any():
                raise CaveServerError(
                    f"{self.config.name}: paging through {table!r} returned overlapping pages (unstable "
                    "order); lower id_batch or ask the server administrators")
            out.append(full)
        return out

    def read_whole(self, table: str, what: str, version: int | None = None,
                   check_first: Callable[[pd.DataFrame], None] | None = None) -> list[pd.DataFrame]:
        """Every row of ``table`` (at ``version``, else the server's default), in pages.

        Positions come in nm. Pages are asked for by offset until an answer is surely the
        table's end (by what is known of the row cap, or one extra row). ``check_first`` sees
        the first non-empty page, to refuse a table of the wrong shape before reading it all.
        """
        mat = self._mat

        def page(offset: int, limit: int) -> pd.DataFrame:
            df = self.connection.run(what, lambda: mat.query_table(
                table, materialization_version=version, split_positions=True, metadata=False,
                merge_reference=False, limit=limit, offset=offset or None, desired_resolution=[1, 1, 1],
                log_warning=False))
            if not isinstance(df, pd.DataFrame):
                raise CaveServerError(
                    f"{self.connection.where}: query of table {table!r} did not return a table")
            return df

        pages: list[pd.DataFrame] = []
        offset = 0
        while True:
            limit = self.limit()
            df = page(offset, limit)
            if len(df):
                if not pages and check_first is not None:
                    check_first(df)
                pages.append(df)
            offset += len(df)
            done = self.complete(len(df), limit)
            if done is None:
                # as many rows as any complete answer so far: may be capped; one more row decides
                more = len(page(offset, 1)) > 0
                self.cap.learn(len(df), more)
                done = not more
            if done:
                return pages
