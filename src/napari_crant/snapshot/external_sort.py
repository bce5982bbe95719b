"""Sorting more rows than fit in memory: sorted runs on disk, merged by key ranges.

:class:`ExternalSorter` takes rows as numpy structured arrays (one record per row), in any
number of batches, and gives them back sorted by any number of integer key fields (for
example ``("pre_pt_l2_id", "id")``: by the first, ties by the next). Memory stays bounded by
``run_rows``, whatever the total:

1. :meth:`ExternalSorter.add` copies rows into one buffer of ``run_rows`` rows; every full
   buffer is sorted (an index, no sorted copy) and written slice by slice to a *run* file
   (raw records) in a temporary directory;
2. :meth:`ExternalSorter.sorted_batches` picks key ranges of about ``run_rows`` rows each from
   evenly spaced samples of the runs' first key, and for every range reads the matching slice
   of each run (found by a binary search reading one record per step) into one array, sorts
   it (an index) and yields the sorted rows a slice (:data:`_SLICE_ROWS`) at a time.

Runs are raw record files read with plain positioned reads, never memory-mapped: a mapped
run's pages would count in the process's resident size as they are touched (and a binary
search over a strided field of a mapped run copies the whole field), so reading back 100M
rows would hold gigabytes of file pages.

A range holds every row of its first-key values, so a single first-key value shared by far
more than ``run_rows`` rows makes one large range (memory grows with it; IDs of chunks and
roots never come close). Runs are removed once merged, and on :meth:`close`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

#: Rows per sorted run by default (96-byte synapse rows: about 190 MB; the synapse writer
#: runs two sorters, and a merged range is read into one array of about this many rows).
DEFAULT_RUN_ROWS = 2_000_000
#: Sorted rows written (to a run) or handed out (by ``sorted_batches``) at once.
_SLICE_ROWS = 1 << 20
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
        self._buffer: np.ndarray | None = None  # rows of the run being collected
        self._pending_rows = 0
        self._runs: list[_Run] = []
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
            if self._buffer is None:  # np.empty: pages become resident as rows fill them
                self._buffer = np.empty(self.run_rows, dtype=self.dtype)
            take = min(len(rows) - start, self.run_rows - self._pending_rows)
            self._buffer[self._pending_rows:self._pending_rows + take] = rows[start:start + take]
            self._pending_rows += take
            self._rows += take
            start += take
            if self._pending_rows >= self.run_rows:
                self._spill()

    def _order(self, rows: np.ndarray) -> np.ndarray:
        return np.lexsort([rows[k] for k in reversed(self.keys)])

    def _spill(self) -> None:
        """Sort the collected rows and write them as a run, a slice at a time (no second
        copy of the run in memory)."""
        if not self._pending_rows:
            return
        rows = self._buffer[:self._pending_rows]
        order = self._order(rows)
        path = self._dir / f"run{len(self._runs):05d}.rows"
        with open(path, "wb") as out:
            for lo in range(0, len(order), _SLICE_ROWS):
                rows[order[lo:lo + _SLICE_ROWS]].tofile(out)
        self._runs.append(_Run(path, self.dtype, len(rows)))
        self._pending_rows = 0

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
            if self._pending_rows:
                rows, self._buffer = self._buffer[:self._pending_rows], None
                self._pending_rows = 0
                rows = rows[self._order(rows)]  # the unsorted copy is freed before the caller
                yield rows                     # holds the sorted one
            return
        self._spill()
        self._buffer = None
        runs = self._runs
        first = self.keys[0]
        bounds = self._range_bounds(runs, first)
        cursors = [0] * len(runs)
        try:
            for hi in [*bounds, None]:
                ends = [run.rows if hi is None else run.lower_bound(first, hi, cursors[i])
                        for i, run in enumerate(runs)]
                n = sum(end - lo for end, lo in zip(ends, cursors, strict=True))
                if not n:
                    continue
                rows = np.empty(n, dtype=self.dtype)  # the range, read straight into place
                at = 0
                for i, run in enumerate(runs):
                    run.read_into(cursors[i], ends[i], rows[at:at + ends[i] - cursors[i]])
                    at += ends[i] - cursors[i]
                    cursors[i] = ends[i]
                order = self._order(rows)
                # handed out a slice at a time: one copy of the range while the caller works
                for lo in range(0, n, _SLICE_ROWS):
                    yield rows[order[lo:lo + _SLICE_ROWS]]
                del rows, order
        finally:
            self.close()

    def _range_bounds(self, runs: list[_Run], first: str) -> list[int]:
        """First-key values splitting all rows into ranges of about ``run_rows`` rows."""
        samples, weights = [], []
        for run in runs:
            step = max(1, run.rows // _SAMPLES_PER_RUN)
            pos = range(0, run.rows, step)
            samples.append(np.array([run.key(first, i) for i in pos], dtype=self.dtype[first]))
            weights.append(np.full(len(pos), step, dtype=np.int64))
        keys = np.concatenate(samples)
        order = np.argsort(keys, kind="stable")
        keys, rows_before = keys[order], np.cumsum(np.concatenate(weights)[order])
        n_ranges = -(-self._rows // self.run_rows)
        targets = np.arange(1, n_ranges) * self.run_rows
        picked = keys[np.minimum(np.searchsorted(rows_before, targets), len(keys) - 1)]
        return sorted({int(k) for k in picked if k > keys[0]})  # Python ints: uint64-exact

    def close(self) -> None:
        """Remove the runs (also done when :meth:`sorted_batches` is exhausted)."""
        self._buffer, self._pending_rows = None, 0
        for run in self._runs:
            run.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class _Run:
    """One sorted run on disk: raw records, read with positioned reads (no memory map)."""

    def __init__(self, path: Path, dtype: np.dtype, rows: int):
        self.path, self.dtype, self.rows = path, dtype, rows
        self._fd: int | None = os.open(path, os.O_RDONLY)

    def key(self, field: str, i: int) -> int:
        """Field ``field`` of record ``i`` (one record read)."""
        size = self.dtype.itemsize
        data = os.pread(self._fd, size, i * size)
        if len(data) != size:
            raise ExternalSortError(f"sort run {self.path.name} is shorter than {self.rows} rows")
        return int(np.frombuffer(data, dtype=self.dtype)[field][0])

    def lower_bound(self, field: str, value: int, lo: int) -> int:
        """First row at or after ``lo`` whose ``field`` is not below ``value`` (the run is
        sorted by it): a binary search reading one record per step."""
        hi = self.rows
        while lo < hi:
            mid = (lo + hi) // 2
            if self.key(field, mid) < value:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Read rows ``start:stop`` into ``out`` (contiguous, ``stop - start`` rows)."""
        size = self.dtype.itemsize
        view = memoryview(out).cast("B")
        done = 0
        while done < len(view):
            got = os.preadv(self._fd, [view[done:]], start * size + done)
            if got == 0:
                raise ExternalSortError(
                    f"sort run {self.path.name} is shorter than {self.rows} rows")
            done += got

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
