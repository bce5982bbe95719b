"""A snapshot's Arrow IPC files, memory-mapped, and how their pages are read from disk.

A query reads a few rows of a large table (one root's slice, a binary search). By default
the kernel answers a page fault on a mapped file by reading a whole window around it (the
device's read-ahead, 8 MB on some virtual disks): at 100M synapses, where the tables do not
stay in the page cache, each cold slice then costs megabytes of I/O and the system time to
take them in, so the per-query cost grows with the dataset. Tables read by key are
therefore mapped with ``MADV_RANDOM`` (a fault reads the page it needs) and the rows a query
is about to read are asked for in one go with ``MADV_WILLNEED`` (:meth:`MappedTable.prefetch`),
so a query's I/O is the pages of its rows at any size. Whole-table readers (DuckDB) use a
plain mapping of the same file, whose read-ahead suits scans.

One contiguous range of rows (a single neuron's slice) is cheapest read with one positioned
read of the file (:meth:`MappedTable.read`, ``preadv`` into a new array): one system call,
where advising and then faulting the pages in through the mapping takes two or more and
half again the CPU time, cold or warm. Many ranges (the slices of a thousand neurons) are read
the same way, one positioned read each (:meth:`MappedTable.read_ranges`): first without waiting
for the disk (``RWF_NOWAIT``), so ranges already in memory cost one call and no advice, then the
others advised together (``POSIX_FADV_WILLNEED``) and read. Through the mapping, every page a
query touches for the first time in the process costs a page fault, so the CPU per query grew
with the table (at 100M synapses a query's pages are mostly new to the process; at 5M they are
mostly mapped already).
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from napari_crant.snapshot.integrity import SnapshotError

_PAGE = mmap.PAGESIZE
#: ``madvise`` is POSIX-only (not on Windows): elsewhere the mapping keeps the OS default.
_CAN_ADVISE = hasattr(mmap.mmap, "madvise") and hasattr(mmap, "MADV_RANDOM")
#: Positioned reads into an array (POSIX); elsewhere :meth:`MappedTable.read` copies from the mapping.
_CAN_PREAD = hasattr(os, "preadv")
#: Advice on a file's pages through its descriptor (POSIX; not on Windows or macOS).
_CAN_FADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_WILLNEED")
#: ``preadv`` flag: read only what is in memory, never wait for the disk (Linux); 0 where missing.
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)
#: Ranges of pages closer than this are asked for in one call (reading a few pages more
#: costs less than another system call).
_MERGE_GAP_PAGES = 8


@dataclass(frozen=True)
class KeyedFile:
    """A table read by key: its mapping (random access advised) and the file kept open for
    positioned reads (the same file: one replaced later is not seen by either).

    Attributes
    ----------
    mapping
        The whole file, mapped read-only.
    file
        The file opened for reading (unbuffered); closed when this object is collected.
    """

    mapping: mmap.mmap
    file: io.FileIO


def map_keyed(path: Path) -> KeyedFile | None:
    """Open and map ``path`` read-only for reading by key: ``MADV_RANDOM`` on the mapping and
    ``POSIX_FADV_RANDOM`` on the file where the OS has them (a read from disk, through the
    mapping or a positioned read, reads the pages asked for, not a read-ahead window).

    Returns
    -------
    KeyedFile or None
        ``None`` for an empty file (which cannot be mapped; reading it as a table then
        says it is damaged).

    Raises
    ------
    SnapshotError
        If the file cannot be opened or mapped.
    """
    try:
        f = open(path, "rb", buffering=0)  # noqa: SIM115 (kept open with the mapping)
    except OSError as e:
        raise SnapshotError(f"{path} cannot be opened ({e})") from None
    try:
        if not os.fstat(f.fileno()).st_size:
            f.close()
            return None
        mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        f.close()
        raise SnapshotError(f"{path} cannot be opened ({e})") from None
    if _CAN_ADVISE:
        with contextlib.suppress(OSError):  # advice only: the same bytes are read without it
            mapping.madvise(mmap.MADV_RANDOM)
    if _CAN_FADVISE:  # positioned reads too: a read from disk reads its pages, no read-ahead
        with contextlib.suppress(OSError):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_RANDOM)
    return KeyedFile(mapping, f)


class MappedTable:
    """An Arrow IPC file, memory-mapped; columns come out as zero-copy numpy arrays.

    Parameters
    ----------
    path
        The file (for messages).
    source
        The mapped file: a :func:`map_keyed` file (its pages can be prefetched, its rows read
        with positioned reads) or a pyarrow ``MemoryMappedFile`` (plain mapping, for scans).

    Raises
    ------
    SnapshotError
        If the file is not a readable Arrow IPC file.
    """

    def __init__(self, path: Path, source: KeyedFile | pa.MemoryMappedFile):
        self.path = path
        keyed = isinstance(source, KeyedFile)
        self._mapping = source.mapping if keyed else None
        self._file = source.file if keyed else None
        reader = pa.BufferReader(pa.py_buffer(self._mapping)) if keyed else source
        try:
            self._table = pa.ipc.open_file(reader).read_all()
        except (pa.ArrowInvalid, OSError) as e:
            raise SnapshotError(f"{path} is damaged: not a readable Arrow file ({e})") from None
        self._base = pa.py_buffer(self._mapping).address if keyed else 0
        self._columns: dict[str, np.ndarray] = {}
        #: Where each column read by :meth:`read` starts in the file (-1: not readable there).
        self._read_offsets: dict[str, int] = {}

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, name: str) -> np.ndarray:
        col = self._columns.get(name)
        if col is None:
            chunked = self._table.column(name)
            if chunked.num_chunks == 1:
                col = chunked.chunk(0).to_numpy(zero_copy_only=False)
            else:
                col = chunked.to_numpy()
            self._columns[name] = col
        return col

    @property
    def arrow(self) -> pa.Table:
        return self._table

    def _file_offset(self, col: np.ndarray) -> int:
        """Where ``col``'s values start in the mapped file; -1 if they are not there (a copy)."""
        if self._mapping is None or col.ndim != 1 or not col.flags.c_contiguous:
            return -1
        offset = col.ctypes.data - self._base
        return offset if offset >= 0 and offset + col.nbytes <= len(self._mapping) else -1

    def read(self, name: str, start: int, stop: int, wait: bool = True) -> np.ndarray | None:
        """Rows ``start:stop`` of column ``name`` as a new array (the caller owns it).

        On a :func:`map_keyed` file, one positioned read of the file (``preadv``) into the
        array; elsewhere (a plain mapping, a column that is a copy, no ``preadv``, a failed
        read) a copy of the mapped rows. The values are the same either way.

        Parameters
        ----------
        name
            Column name.
        start, stop
            The row range (as a slice: clipped to the column, empty if ``stop <= start``).
        wait
            ``False``: read only if the rows are in memory (``RWF_NOWAIT``), else return
            ``None`` (also where such a read is not possible) and read nothing from disk.
        """
        col = self[name]
        start, stop, _ = slice(start, stop).indices(len(col))
        offset = self._read_offset(name)
        if not wait and (offset < 0 or not _NOWAIT):
            return None
        if offset >= 0 and stop > start:
            out = np.empty(stop - start, dtype=col.dtype)
            at = offset + start * col.itemsize
            try:
                got = (os.preadv(self._file.fileno(), [out], at) if wait
                       else os.preadv(self._file.fileno(), [out], at, _NOWAIT))
                if got == out.nbytes:
                    return out
            except (OSError, ValueError):  # BlockingIOError: not in memory (RWF_NOWAIT)
                pass
            if not wait:
                return None
        return np.array(col[start:stop])

    def _read_offset(self, name: str) -> int:
        """Where column ``name`` starts in the file for positioned reads (-1: it cannot be read there)."""
        offset = self._read_offsets.get(name)
        if offset is None:
            offset = self._read_offsets[name] = (
                self._file_offset(self[name]) if _CAN_PREAD and self._file is not None else -1)
        return offset

    def read_ranges(self, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Rows ``lo[i]:hi[i]`` of column ``name``, concatenated in the order given, as a new
        array (the caller owns it): the same values as ``self[name][expand_ranges(lo, hi)]``.

        On a :func:`map_keyed` file, one positioned read per range (ranges that follow each
        other in the file and in the order given: one for all) into the array, none of its
        pages mapped into the process: first each without waiting for the disk
        (``RWF_NOWAIT``: pages in memory cost one call and no advice), then the ranges not
        (wholly) in memory asked for together (``POSIX_FADV_WILLNEED``, so their reads from
        disk are in flight at once) and read. Elsewhere, and for a range whose read fails,
        the rows are copied from the mapping (the same values).

        Parameters
        ----------
        name
            Column name (fixed-width values).
        lo, hi
            Row ranges (aligned integer arrays, within the column; empty ranges are skipped).
        """
        col = self[name]
        lo, hi = np.asarray(lo, np.int64).ravel(), np.asarray(hi, np.int64).ravel()
        keep = hi > lo
        lo, hi = lo[keep], hi[keep]
        if len(lo) and (int(lo.min()) < 0 or int(hi.max()) > len(col)):
            raise IndexError(f"row ranges outside {name!r} ({len(col)} rows)")
        if len(lo) > 1:  # a range that starts where the one before it stops: one read for both
            starts = np.flatnonzero(np.concatenate(([True], lo[1:] != hi[:-1])))
            lo, hi = lo[starts], hi[np.append(starts[1:], len(hi)) - 1]
        n = hi - lo
        out = np.empty(int(n.sum()), dtype=col.dtype)
        offset = self._read_offset(name)
        if offset < 0 or not len(out):
            for pos, start, stop in zip((np.cumsum(n) - n).tolist(), lo.tolist(), hi.tolist(), strict=True):
                out[pos:pos + stop - start] = col[start:stop]
            return out
        size = col.itemsize
        view = memoryview(out).cast("B")
        ends = np.cumsum(n) * size
        where = (offset + lo * size).tolist()
        ranges = list(zip((ends - n * size).tolist(), ends.tolist(), where, strict=True))
        fd = self._file.fileno()
        missed = _read_into(fd, view, ranges, _NOWAIT) if _NOWAIT else ranges
        if missed and _CAN_FADVISE:
            for a, b, at in missed:
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fd, at, b - a, os.POSIX_FADV_WILLNEED)
        for a, b, at in _read_into(fd, view, missed, 0):  # failed reads: from the mapping
            view[a:b] = self._mapping[at:at + b - a]
        return out

    def will_read(self, name: str, start: int, stop: int) -> bool:
        """Ask the OS to read rows ``start:stop`` of column ``name`` now (``POSIX_FADV_WILLNEED``
        on the file), so a :meth:`read` of them that follows another read does not wait for
        the disk alone. Advice only; returns whether it was given."""
        offset = self._read_offset(name) if _CAN_FADVISE else -1
        if offset < 0 or stop <= start:
            return False
        size = self[name].itemsize
        try:
            os.posix_fadvise(self._file.fileno(), offset + start * size, (stop - start) * size,
                             os.POSIX_FADV_WILLNEED)
        except OSError:
            return False
        return True

    def prefetch(self, name: str, lo: np.ndarray, hi: np.ndarray) -> int:
        """Ask the OS to read rows ``lo[i]:hi[i]`` of column ``name`` now, all in one go.

        Advice only (``MADV_WILLNEED``): pages already in memory cost a lookup, the others
        are read together instead of one page fault at a time. Does nothing on a plain
        mapping, on a column that is a copy (not in the mapping) or where ``madvise`` is
        missing.

        Parameters
        ----------
        name
            Column name (fixed-width values).
        lo, hi
            Row ranges (aligned integer arrays; empty ranges are skipped).

        Returns
        -------
        int
            How many ``madvise`` calls were made.
        """
        if self._mapping is None or not _CAN_ADVISE:
            return 0
        col = self[name]
        offset = self._file_offset(col)
        if offset < 0:
            return 0
        if np.size(lo) == 1:  # one range (one neuron): no array work
            start, stop = int(np.ravel(lo)[0]), int(np.ravel(hi)[0])
            if stop <= start:
                return 0
            first = (offset + start * col.itemsize) // _PAGE
            last = (offset + stop * col.itemsize - 1) // _PAGE + 1
            return self._advise(first, last)
        lo, hi = np.asarray(lo, np.int64).ravel(), np.asarray(hi, np.int64).ravel()
        keep = hi > lo
        if not keep.any():
            return 0
        first = (offset + lo[keep] * col.itemsize) // _PAGE
        last = (offset + hi[keep] * col.itemsize - 1) // _PAGE + 1  # exclusive
        if len(first) > 1 and not bool(np.all(first[1:] >= first[:-1])):
            order = np.argsort(first, kind="stable")
            first, last = first[order], last[order]
        reach = np.maximum.accumulate(last)
        starts = np.flatnonzero(np.concatenate(([True], first[1:] > reach[:-1] + _MERGE_GAP_PAGES)))
        stops = np.append(starts[1:], len(first)) - 1
        calls = 0
        for s, e in zip(first[starts].tolist(), reach[stops].tolist(), strict=True):
            if not self._advise(s, e):
                break
            calls += 1
        return calls

    def _advise(self, first: int, last: int) -> int:
        """``MADV_WILLNEED`` on pages ``first:last`` of the mapping; 1 if it was made."""
        try:
            self._mapping.madvise(mmap.MADV_WILLNEED, first * _PAGE, (last - first) * _PAGE)
        except (OSError, ValueError):
            return 0
        return 1


_Ranges = list[tuple[int, int, int]]


def _read_into(fd: int, view: memoryview, ranges: _Ranges, flags: int) -> _Ranges:
    """Positioned reads of ``ranges`` (``(start, stop)`` in ``view``, where in the file) with
    ``preadv`` ``flags``; returns what was not read (the rest of a short read, a failed one)."""
    missed = []
    for a, b, at in ranges:
        try:
            got = os.preadv(fd, [view[a:b]], at, flags)
        except (OSError, ValueError):  # BlockingIOError: not in memory (RWF_NOWAIT)
            got = 0
        if got < b - a:
            missed.append((a + got, b, at + got))
    return missed


def page_in(path: Path, chunk_bytes: int = 8 << 20) -> int:
    """Read ``path`` from start to end once, so that its pages are in the OS page cache.

    Through a descriptor of its own, advised sequential (the read-ahead of a scan), so the
    random-access advice of the query mappings is left alone. Nothing is kept in memory but
    the page cache the kernel manages (it may drop the pages again under memory pressure).

    Parameters
    ----------
    path
        The file.
    chunk_bytes
        Size of each read.

    Returns
    -------
    int
        The bytes read (the file's size).
    """
    buffer = memoryview(bytearray(chunk_bytes))
    total = 0
    with open(path, "rb", buffering=0) as f:
        if _CAN_FADVISE:
            with contextlib.suppress(OSError):
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while read := f.readinto(buffer):
            total += read
    return total
