"""``sources/snapshot_mapping.py``: keyed mappings read the same values, and prefetching asks
for the pages of the rows (nearby ranges merged) and nothing on plain mappings or copies."""

from __future__ import annotations

import mmap

import numpy as np
import pyarrow as pa
import pytest

from napari_crant.snapshot.integrity import SnapshotError
from napari_crant.sources import snapshot_mapping as sm

ROWS = 1_000_000  # 8 MB of uint64: about 2,000 pages


@pytest.fixture()
def arrow_file(tmp_path):
    path = tmp_path / "t.arrow"
    table = pa.table({"a": pa.array(np.arange(ROWS, dtype=np.uint64) * np.uint64(3) + np.uint64(2**60)),
                      "b": pa.array(np.arange(ROWS, dtype=np.int32))})
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
    return path


def test_keyed_and_plain_mappings_read_the_same_columns(arrow_file):
    keyed = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    plain = sm.MappedTable(arrow_file, pa.memory_map(str(arrow_file), "r"))
    assert len(keyed) == len(plain) == ROWS
    for name in ("a", "b"):
        np.testing.assert_array_equal(keyed[name], plain[name])
    assert keyed["a"].dtype == np.uint64 and keyed["a"][-1] == np.uint64(2**60 + 3 * (ROWS - 1))


@pytest.mark.skipif(not sm._CAN_ADVISE, reason="madvise is POSIX-only")
def test_prefetch_merges_nearby_ranges_and_skips_empty_ones(arrow_file):
    table = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    per_page = mmap.PAGESIZE // 8
    assert table.prefetch("a", 10, 20) == 1
    assert table.prefetch("a", np.array([5]), np.array([5])) == 0  # empty
    # two ranges a page apart: one call; two ranges far apart: two
    assert table.prefetch("a", np.array([0, 2 * per_page]), np.array([10, 2 * per_page + 10])) == 1
    assert table.prefetch("a", np.array([0, 500 * per_page]), np.array([10, 500 * per_page + 10])) == 2
    # unsorted input, overlapping ranges, the last row of the file
    lo = np.array([900 * per_page, 0, 5, ROWS - 1])
    hi = np.array([900 * per_page + 3, 50, 40, ROWS])
    assert table.prefetch("a", lo, hi) == 3
    assert table.prefetch("b", np.array([0]), np.array([ROWS])) == 1  # the whole column


def test_nothing_to_prefetch_on_a_plain_mapping(arrow_file):
    plain = sm.MappedTable(arrow_file, pa.memory_map(str(arrow_file), "r"))
    assert plain.prefetch("a", 0, 100) == 0


def test_an_empty_file_is_left_to_the_table_reader(tmp_path):
    empty = tmp_path / "empty.arrow"
    empty.write_bytes(b"")
    assert sm.map_keyed(empty) is None
    with pytest.raises(SnapshotError, match="is damaged: not a readable Arrow file"):
        sm.MappedTable(empty, pa.memory_map(str(empty), "r"))
    with pytest.raises(SnapshotError, match="cannot be opened"):
        sm.map_keyed(tmp_path / "missing.arrow")


@pytest.mark.parametrize(("start", "stop"), [(0, 10), (5, 5), (7, 3), (ROWS - 3, ROWS + 50), (-10, ROWS),
                                             (123_456, 654_321), (0, ROWS)])
def test_read_gives_the_rows_of_a_slice_as_a_new_array(arrow_file, start, stop):
    keyed = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    plain = sm.MappedTable(arrow_file, pa.memory_map(str(arrow_file), "r"))
    for name in ("a", "b"):
        want = np.array(plain[name][start:stop])
        for table in (keyed, plain):
            got = table.read(name, start, stop)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
            assert not np.shares_memory(got, table[name])  # the caller owns it
            got[:1] = 0  # writable
    assert keyed.read("a", 10, 11)[0] == np.uint64(2**60 + 30)  # 18-digit values exact


@pytest.mark.skipif(not sm._CAN_PREAD, reason="preadv is POSIX-only")
def test_read_is_one_positioned_read_on_a_keyed_file(arrow_file, monkeypatch):
    keyed = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    calls = []
    real = sm.os.preadv

    def counting(fd, buffers, offset):
        calls.append(offset)
        return real(fd, buffers, offset)

    monkeypatch.setattr(sm.os, "preadv", counting)
    np.testing.assert_array_equal(keyed.read("a", 100, 200), keyed["a"][100:200])
    assert len(calls) == 1
    plain = sm.MappedTable(arrow_file, pa.memory_map(str(arrow_file), "r"))
    plain.read("a", 100, 200)
    assert len(calls) == 1  # a plain mapping copies from the mapping


def test_read_without_positioned_reads_copies_the_same_rows(arrow_file, monkeypatch):
    monkeypatch.setattr(sm, "_CAN_PREAD", False)
    keyed = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    np.testing.assert_array_equal(keyed.read("b", 999_990, 1_000_000), np.arange(999_990, 1_000_000))


def _ranges_case() -> tuple[np.ndarray, np.ndarray]:
    """Unsorted, overlapping, adjacent, empty and reversed ranges, the first and last rows."""
    rng = np.random.default_rng(0)
    lo = rng.integers(0, ROWS - 5_000, 300)
    hi = lo + rng.integers(0, 3_000, 300)
    lo = np.concatenate((lo, [0, 10, 20, 500, 900, ROWS - 7, 42]))
    hi = np.concatenate((hi, [10, 20, 25, 500, 800, ROWS, 43]))
    return lo, hi


def _gathered(table, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    rows = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
    return np.asarray(table[name])[rows]


def test_read_ranges_gives_the_rows_of_each_range_in_order(arrow_file):
    keyed = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    plain = sm.MappedTable(arrow_file, pa.memory_map(str(arrow_file), "r"))
    lo, hi = _ranges_case()
    for name in ("a", "b"):
        want = _gathered(plain, name, lo, hi)
        for table in (keyed, plain):
            got = table.read_ranges(name, lo, hi)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
            assert not np.shares_memory(got, table[name])
    assert len(keyed.read_ranges("a", np.array([5, 9]), np.array([5, 2]))) == 0
    with pytest.raises(IndexError, match="outside"):
        keyed.read_ranges("a", np.array([ROWS - 1]), np.array([ROWS + 1]))


def _counting_preadv(monkeypatch, fail=lambda flags, offset: None):
    """Record ``(flags, offset)`` of every ``preadv``; ``fail`` may raise or return a short count."""
    calls, real = [], sm.os.preadv

    def counting(fd, buffers, offset, flags=0):
        calls.append((flags, offset))
        short = fail(flags, offset)
        if short is not None:
            return real(fd, [memoryview(buffers[0])[:short]], offset, 0) if short else 0
        return real(fd, buffers, offset, flags)

    monkeypatch.setattr(sm.os, "preadv", counting)
    return calls


def _counting_fadvise(monkeypatch):
    calls, real = [], sm.os.posix_fadvise

    def counting(fd, offset, length, advice):
        calls.append((offset, length))
        return real(fd, offset, length, advice)

    monkeypatch.setattr(sm.os, "posix_fadvise", counting)
    return calls


@pytest.mark.skipif(not (sm._CAN_PREAD and sm._NOWAIT and sm._CAN_FADVISE), reason="Linux positioned reads")
def test_read_ranges_in_memory_is_one_read_per_range_and_no_advice(arrow_file, monkeypatch):
    """Pages in memory: one ``RWF_NOWAIT`` read per range (adjacent ones joined), no advice."""
    arrow_file.read_bytes()  # its pages in the page cache
    keyed = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    reads, advice = _counting_preadv(monkeypatch), _counting_fadvise(monkeypatch)
    monkeypatch.setattr(sm.MappedTable, "_advise", lambda *a: pytest.fail("madvise"))
    per_page = mmap.PAGESIZE // 8
    lo = np.arange(0, 400 * per_page, 4 * per_page)  # 100 ranges a few pages apart
    hi = lo + per_page
    lo, hi = np.append(lo, [hi[-1], 7]), np.append(hi, [hi[-1] + 5, 7])  # adjacent; empty
    np.testing.assert_array_equal(keyed.read_ranges("a", lo, hi), _gathered(keyed, "a", lo, hi))
    assert len(reads) == 100 and {f for f, _ in reads} == {sm._NOWAIT}
    assert advice == []


@pytest.mark.skipif(not (sm._CAN_PREAD and sm._NOWAIT and sm._CAN_FADVISE), reason="Linux positioned reads")
def test_read_ranges_not_in_memory_are_advised_together_then_read(arrow_file, monkeypatch):
    """Ranges a ``RWF_NOWAIT`` read cannot give (wholly) are advised, all of them before the
    first is read again; a read that still fails is copied from the mapping."""
    keyed = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    base = keyed._read_offset("a")
    lo, hi = np.array([0, 1_000, 50_000, 900_000]), np.array([100, 3_000, 50_001, 901_000])

    def fail(flags, offset):
        row = (offset - base) // 8
        if flags and row == 1_000:
            raise BlockingIOError(11, "not in memory")
        if flags and row == 900_000:
            return 24  # three rows in memory, the rest not
        if not flags and row == 50_000:
            raise OSError(5, "I/O error")
        if flags and row == 50_000:
            raise BlockingIOError(11, "not in memory")
        return None

    reads, real_advise = _counting_preadv(monkeypatch, fail), sm.os.posix_fadvise
    lengths = []

    def advising(fd, offset, length, advice):  # advice in the same log as the reads
        reads.append(("advice", offset))
        lengths.append(length // 8)
        return real_advise(fd, offset, length, advice)

    monkeypatch.setattr(sm.os, "posix_fadvise", advising)
    np.testing.assert_array_equal(keyed.read_ranges("a", lo, hi), _gathered(keyed, "a", lo, hi))
    kinds = [flags for flags, _ in reads]
    assert kinds == [sm._NOWAIT] * 4 + ["advice"] * 3 + [0] * 3  # all advised before any waits
    assert sorted((off - base) // 8 for flags, off in reads if flags == 0) == [1_000, 50_000, 900_003]
    assert sorted((off - base) // 8 for flags, off in reads if flags == "advice") == [1_000, 50_000, 900_003]
    assert sorted(lengths) == [1, 997, 2_000]


def _resident(path) -> bool:
    """Whether every page of ``path`` is in the page cache: a read that never waits for the
    disk (``RWF_NOWAIT``) gets the whole file."""
    import os

    size = path.stat().st_size
    buf = bytearray(size)
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.preadv(fd, [buf], 0, os.RWF_NOWAIT) == size
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.mark.skipif(not (sm._NOWAIT and sm._CAN_FADVISE), reason="RWF_NOWAIT, posix_fadvise: Linux only")
def test_page_in_reads_the_whole_file_into_the_page_cache(arrow_file):
    import os

    fd = os.open(arrow_file, os.O_RDONLY)
    try:
        os.fsync(fd)  # written pages must be clean before they can be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    dropped = not _resident(arrow_file)  # a file system without a page cache (tmpfs) keeps them
    assert sm.page_in(arrow_file, chunk_bytes=1 << 20) == arrow_file.stat().st_size
    assert _resident(arrow_file), f"pages missing after page_in (they had been dropped: {dropped})"


@pytest.mark.skipif(not (sm._NOWAIT and sm._CAN_FADVISE), reason="RWF_NOWAIT, posix_fadvise: Linux only")
def test_read_without_waiting_reads_rows_in_memory_and_nothing_from_disk(arrow_file):
    import os

    table = sm.MappedTable(arrow_file, sm.map_keyed(arrow_file))
    sm.page_in(arrow_file)
    np.testing.assert_array_equal(table.read("a", 1000, 5000, wait=False), table["a"][1000:5000])
    fd = os.open(arrow_file, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if not _resident(arrow_file):  # dropped (not on tmpfs): nothing is read, None says so
        assert table.read("a", 200_000, 300_000, wait=False) is None
        assert not _resident(arrow_file)
    np.testing.assert_array_equal(table.read("a", 200_000, 300_000), table["a"][200_000:300_000])
    plain = sm.MappedTable(arrow_file, pa.memory_map(str(arrow_file), "r"))
    assert plain.read("a", 0, 10, wait=False) is None  # no positioned reads on a plain mapping
