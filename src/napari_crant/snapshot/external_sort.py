"""Sorting more rows than fit in memory: sorted runs on disk, merged by key ranges.

:class:`ExternalSorter` takes rows as numpy structured arrays (one record per row), in any
number of batches, and gives them back sorted by any number of integer key fields (for
example ``("pre_pt_l2_id", "id")``: by the first, ties by the next). Memory stays bounded by
``run_rows``, whatever the total:

1. :meth:`ExternalSorter.add` collects rows; every ``run_rows`` rows are sorted in memory and
   written to a *run* file (``.npy``) in a temporary directory;
2. :meth:`ExternalSorter.sorted_batches` picks key ranges of about ``run_rows`` rows each from
   evenly spaced samples of the runs' first key, and for every range reads the matching slice
   of each run (a binary search in the memory-mapped run), sorts those rows and yields them.

A range holds every row of its first-key values, so a single first-key value shared by far
more than ``run_rows`` rows makes one large range (memory grows with it; IDs of chunks and
roots never come close). Runs are removed as soon as they are read, and on :meth:`close`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

#: Rows per sorted run by default (80-byte synapse rows: about 320 MB).
DEFAULT_RUN_ROWS = 4_000_000
#: Samples of the first key taken from every run to choose the key ranges.
_SAMPLES_PER_RUN = 256


class ExternalSortError(ValueError):
    """Rows or keys handed to :class:`ExternalSorter` do not fit its record layout."""


class ExternalSorter:
    """Sort rows of a structured dtype by integer key fields, spilling sorted runs to disk.

    Parameters
    ----------
    dtype
        The record layout (a numpy structured dtype) of every row.
    keys
        Field names to sort by, most significant first; each an integer field. The sort is
        stable: rows with equal keys keep the order they were added in.
    run_rows
        Rows held in memory before a run is sorted and written (bounds memory).
    directory
        Where to make the temporary directory of the runs (default: the system's).

    Examples
    --------
    >>> rows = np.zeros(5, dtype=[("k", "u8"), ("v", "i4")])
    >>> rows["k"] = [3, 1, 2, 1, 0]; rows["v"] = range(5)
    >>> with ExternalSorter(rows.dtype, ("k",), run_rows=2) as s:
    ...     s.add(rows)
    ...     out = np.concatenate(list(s.sorted_batches()))
    >>> out["v"].tolist()
    [4, 1, 3, 2, 0]
    """

    def __init__(self, dtype: np.dtype, keys: Sequence[str], run_rows: int = DEFAULT_RUN_ROWS,
                 directory: str | os.PathLike | None = None):
        self.dtype = np.dtype(dtype)
        if self.dtype.names is None:
            raise ExternalSortError("ExternalSorter needs a structured dtype (named fields)")
        self.keys = tuple(keys)
        if not self.keys:
            raise ExternalSortError("ExternalSorter needs at least one key field")
        for k in self.keys:
            if k not in self.dtype.names:
                raise ExternalSortError(f"key field {k!r} is not a field of {self.dtype.names}")
            if self.dtype[k].kind not in "iu":
                raise ExternalSortError(f"key field {k!r} has dtype {self.dtype[k]}, not an integer")
        if int(run_rows) < 1:
            raise ExternalSortError(f"run_rows must be positive, not {run_rows}")
        self.run_rows = int(run_rows)
        self._dir = Path(tempfile.mkdtemp(prefix="napari-crant-sort-", dir=directory))
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._runs: list[Path] = []
        self._rows = 0
        self._merged = False

    def __len__(self) -> int:
        return self._rows

    def __enter__(self) -> ExternalSorter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, rows: np.ndarray) -> None:
        """Add rows (a structured array of :attr:`dtype`); they are copied."""
        if self._merged:
            raise ExternalSortError("rows added after sorted_batches() started")
        if rows.dtype != self.dtype:
            raise ExternalSortError(f"rows have dtype {rows.dtype}, expected {self.dtype}")
        start = 0
        while start < len(rows):
            take = min(len(rows) - start, self.run_rows - self._pending_rows)
            self._pending.append(rows[start:start + take].copy())
            self._pending_rows += take
            self._rows += take
            start += take
            if self._pending_rows >= self.run_rows:
                self._spill()

    def _order(self, rows: np.ndarray) -> np.ndarray:
        return np.lexsort([rows[k] for k in reversed(self.keys)])

    def _spill(self) -> None:
        if not self._pending_rows:
            return
        rows = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_rows = [], 0
        rows = rows[self._order(rows)]
        path = self._dir / f"run{len(self._runs):05d}.npy"
        np.save(path, rows)
        self._runs.append(path)

    def sorted_batches(self) -> Iterator[np.ndarray]:
        """All rows added, sorted by the keys, in batches of about ``run_rows`` rows.

        Yields
        ------
        numpy.ndarray
            Consecutive sorted batches (structured arrays of :attr:`dtype`).
        """
        if self._merged:
            raise ExternalSortError("sorted_batches() can only be read once")
        self._merged = True
        if not self._runs:  # everything fits in memory: no file at all
            rows = (np.concatenate(self._pending) if len(self._pending) > 1
                    else self._pending[0] if self._pending else np.zeros(0, self.dtype))
            self._pending, self._pending_rows = [], 0
            if len(rows):
                rows = rows[self._order(rows)]  # the unsorted copy is freed before the caller
                yield rows                     # holds the sorted one
            return
        self._spill()
        # binary searches through memory maps (a few pages each); the rows themselves are
        # read with plain reads, so the runs never become resident pages of this process
        runs = [np.load(p, mmap_mode="r") for p in self._runs]
        first = self.keys[0]
        bounds = self._range_bounds(runs, first)
        cursors = [0] * len(runs)
        for hi in [*bounds, None]:
            parts = []
            for i, run in enumerate(runs):
                end = len(run) if hi is None else int(np.searchsorted(run[first], hi, "left"))
                if end > cursors[i]:
                    parts.append(np.fromfile(self._runs[i], dtype=self.dtype,
                                             count=end - cursors[i],
                                             offset=run.offset + cursors[i] * self.dtype.itemsize))
                    cursors[i] = end
            if not parts:
                continue
            rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
            del parts
            rows = rows[self._order(rows)]  # one copy of the range while the caller works
            yield rows
            del rows
        del runs
        self.close()

    def _range_bounds(self, runs: list[np.ndarray], first: str) -> list:
        """First-key values splitting all rows into ranges of about ``run_rows`` rows."""
        samples, weights = [], []
        for run in runs:
            step = max(1, len(run) // _SAMPLES_PER_RUN)
            pos = np.arange(0, len(run), step)
            samples.append(np.asarray(run[first][pos]))
            weights.append(np.full(len(pos), step, dtype=np.int64))
        keys = np.concatenate(samples)
        order = np.argsort(keys, kind="stable")
        keys, rows_before = keys[order], np.cumsum(np.concatenate(weights)[order])
        n_ranges = -(-self._rows // self.run_rows)
        targets = np.arange(1, n_ranges) * self.run_rows
        picked = keys[np.minimum(np.searchsorted(rows_before, targets), len(keys) - 1)]
        return list(np.unique(picked[picked > keys[0]]))  # numpy scalars: uint64-exact

    def close(self) -> None:
        """Remove the runs (also done when :meth:`sorted_batches` is exhausted)."""
        self._pending, self._pending_rows = [], 0
        shutil.rmtree(self._dir, ignore_errors=True)
