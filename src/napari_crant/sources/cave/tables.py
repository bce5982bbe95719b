"""Reading materialization tables whole, however the server caps the rows of one answer.

CAVE caps the rows of one query (about 200,000 on production). MaterializationEngine says so
in a ``Warning`` header of the capped answer (``201 - "Limited query to N rows`` for a version
query, ``... equal or more than limit of N ...`` for a live query; sent since 2021), so once the
server is known to send it, an answer without it is complete and costs no further request.
:class:`TableReader` reads that header; a truncated answer splits the ID batch in two, or pages a
single ID with ``offset``, until every row is in: results are never silently truncated.

Whether the server sends the header is learnt, not assumed (a proxy could drop it): from any
truncated answer, or, the first time an answer could be capped, by asking for its last row
alone (``limit=1``), which a signalling server marks as limited. A server that does not mark
it is read as before the header existed: an answer with as many rows as the limit is
truncated, and one whose size could still be a smaller server cap is checked with one row past
its end; what that teaches about the cap (:class:`RowCap`) spares later checks.
"""

from __future__ import annotations

import re
import threading
import time
import warnings as py_warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.materialization import Materialization
from napari_crant.sources.base import SYNAPSE_COLUMNS
from napari_crant.sources.cave.client import CaveConnection
from napari_crant.sources.cave.errors import CaveServerError, CaveServerNotice

#: Seconds after which what was learnt about a server's row cap is forgotten and re-learnt.
CAP_MEMORY_S = 900.0
#: The row cap assumed when neither the configuration nor experience says otherwise.
DEFAULT_ROW_CAP = 200_000
_TRUNCATION = re.compile(r"Limited query to (\d+) rows|equal or more than limit of (\d+)")
_POSITIONS = tuple(f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz")


def truncated_at(warnings: list[str]) -> int | None:
    """The row limit a CAVE answer says it was cut at (from its ``Warning`` headers), else None."""
    for text in warnings:
        m = _TRUNCATION.search(text)
        if m:
            return int(m.group(1) or m.group(2))
    return None


@dataclass
class RowCap:
    """What is known about the server's row cap (rows returned per query at most).

    Knowledge assumes the cap does not change; it is forgotten after :data:`CAP_MEMORY_S`.
    ``signals`` records that the server was seen to mark a truncated answer with a ``Warning``.
    """

    exact: int | None = None
    at_least: int = 0
    signals: bool = False
    since: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire(self) -> None:
        """Forget stale knowledge (call with ``lock`` held)."""
        if time.monotonic() - self.since > CAP_MEMORY_S:
            self.forget()

    def forget(self) -> None:
        """Forget everything learnt about the cap (call with ``lock`` held)."""
        self.exact, self.at_least, self.since = None, 0, time.monotonic()

    def learn(self, n: int, more: bool) -> None:
        """An answer of ``n`` rows had ``more`` rows after it (so ``n`` is the cap) or not."""
        with self.lock:
            if more:
                self.exact = n
            else:
                self.at_least = max(self.at_least, n)

    def learn_warning(self, cut_at: int, asked: int) -> None:
        """An answer asked with limit ``asked`` said it was cut at ``cut_at`` rows."""
        with self.lock:
            self.signals = True
            if cut_at < asked:  # the server lowered our limit to its cap
                self.exact = cut_at
            else:
                self.at_least = max(self.at_least, cut_at)


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
        self._notices_shown: set[str] = set()

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

    def _read_warnings(self, table: str, texts: list[str]) -> int | None:
        """The truncation limit in an answer's ``Warning`` headers; other notes shown once each."""
        for text in texts:
            for note in re.split(r",\s*(?=\d{3} - |Table Owner Notice)", text):
                if _TRUNCATION.search(note) or note in self._notices_shown:
                    continue
                self._notices_shown.add(note)
                py_warnings.warn(CaveServerNotice(
                    f"{self.connection.where}: the server's note with table {table!r}: {note.strip()} "
                    "(sent by the server; shown once)"),
                    stacklevel=2)
        return truncated_at(texts)

    def complete(self, n: int, limit: int, cut_at: int | None = None) -> bool | None:
        """Whether an answer of ``n`` rows (asked with ``limit``) is complete (None: unsure).

        ``cut_at`` is the limit the answer's ``Warning`` says it was cut at, if any.
        """
        if n == 0:
            return True
        if cut_at is not None:
            self.cap.learn_warning(cut_at, limit)
            return False
        if n >= limit:
            return False
        with self.cap.lock:
            if self.cap.signals or self.cap.exact is not None or n < self.cap.at_least:
                return True
        return None

    def query_page(self, table: str, filters: dict[str, list[int]], at: Materialization,
                   limit: int, offset: int) -> tuple[pd.DataFrame, int | None]:
        """One answer (at most ``limit`` rows from ``offset``) of a filtered query at ``at``.

        Returns the rows and the limit the server says it cut them at (None: not cut).
        """
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
        df, warnings = self.connection.run_collecting(f"querying {table}", call)
        if not isinstance(df, pd.DataFrame):
            raise self.connection.bad_answer(f"querying {table!r}", "the answer is not a table")
        return df, self._read_warnings(table, warnings)

    def _complete_or_probe(self, n: int, limit: int, cut_at: int | None,
                           row_at: Callable[[int], tuple[pd.DataFrame, int | None]]) -> bool:
        """:meth:`complete`; when unsure, ask ``row_at(k)`` (row ``k`` of the answer, alone).

        First the answer's last row: a server that marks truncation marks that one-row answer
        as limited, which proves the unmarked answer complete (and is learnt for good).
        Otherwise the row after the answer's end decides.
        """
        done = self.complete(n, limit, cut_at)
        if done is None and not self.cap.signals:
            _, cut = row_at(n - 1)
            if cut is not None:
                self.cap.learn_warning(cut, 1)
                done = True
        if done is None:
            more_rows, cut = row_at(n)
            if cut is not None:
                self.cap.learn_warning(cut, 1)
            self.cap.learn(n, len(more_rows) > 0)
            done = not len(more_rows)
        return done

    def query_all(self, table: str, col: str, ids: np.ndarray, extra: dict[str, list[int]],
                  at: Materialization) -> list[pd.DataFrame]:
        """Every row with ``col`` in ``ids`` (and the ``extra`` filters), however the server caps.

        A truncated answer (see the module docs) splits the ID batch in two and both halves
        are queried again; a single ID is paged with ``offset``. An answer the server does
        not mark as truncated is complete, without any further request; from a server that
        may not mark them, an answer that could still be capped is checked with one row past
        its end.
        """
        batch_size = self.config.id_batch
        out: list[pd.DataFrame] = []
        stack = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)][::-1]
        while stack:
            batch = stack.pop()
            filters = {col: [int(x) for x in batch], **extra}
            limit = self.limit()
            df, cut_at = self.query_page(table, filters, at, limit, 0)
            n = len(df)
            if self._complete_or_probe(n, limit, cut_at, lambda k, f=filters:
                                       self.query_page(table, f, at, 1, k)):
                out.append(df)
                continue
            if len(batch) > 1:
                half = len(batch) // 2
                stack += [batch[half:], batch[:half]]
                continue
            pages, offset = [df], len(df)
            while True:
                limit = self.limit()
                page, cut_at = self.query_page(table, filters, at, limit, offset)
                pages.append(page)
                if self._complete_or_probe(len(page), limit, cut_at, lambda k, f=filters, o=offset:
                                           self.query_page(table, f, at, 1, o + k)):
                    break
                offset += len(page)
            full = pd.concat(pages, ignore_index=True)
            if "id" in full and full["id"].duplicated().any():
                raise CaveServerError(
                    f"{self.connection.where}: paging through {table!r} returned overlapping pages "
                    "(unstable order); try again, lower id_batch, or ask the server's administrators")
            out.append(full)
        return out

    def read_whole(self, table: str, what: str, version: int | None = None,
                   check_first: Callable[[pd.DataFrame], None] | None = None) -> list[pd.DataFrame]:
        """Every row of ``table`` (at ``version``, else the server's default), in pages.

        Positions come in nm. Pages are asked for by offset until an answer is the table's
        end (not marked as truncated, see the module docs). ``check_first`` sees
        the first non-empty page, to refuse a table of the wrong shape before reading it all.
        """
        mat = self._mat

        def page(offset: int, limit: int) -> tuple[pd.DataFrame, int | None]:
            df, warnings = self.connection.run_collecting(what, lambda: mat.query_table(
                table, materialization_version=version, split_positions=True, metadata=False,
                merge_reference=False, limit=limit, offset=offset or None, desired_resolution=[1, 1, 1],
                log_warning=False))
            if not isinstance(df, pd.DataFrame):
                raise self.connection.bad_answer(what, "the answer is not a table")
            return df, self._read_warnings(table, warnings)

        pages: list[pd.DataFrame] = []
        offset = 0
        while True:
            limit = self.limit()
            df, cut_at = page(offset, limit)
            if len(df):
                if not pages and check_first is not None:
                    check_first(df)
                pages.append(df)
            if self._complete_or_probe(len(df), limit, cut_at, lambda k, o=offset: page(o + k, 1)):
                return pages
            offset += len(df)
