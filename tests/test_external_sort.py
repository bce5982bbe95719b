"""The external sort and the batch-by-batch Arrow writer that write big snapshots."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_crant.snapshot.arrow_columns import ArrowColumnsError, ArrowColumnsWriter
from napari_crant.snapshot.external_sort import ExternalSorter, ExternalSortError
from napari_crant.snapshot.synapse_files import pandas_metadata

ROW = np.dtype([("a", "u8"), ("b", "u8"), ("v", "i4")])
BIG = np.uint64(576460752303423488)  # realistic 18-digit IDs, above 2**53


def _rows(rng: np.random.Generator, n: int, distinct: int) -> np.ndarray:
    rows = np.zeros(n, dtype=ROW)
    rows["a"] = BIG + rng.integers(0, distinct, n).astype(np.uint64) * np.uint64(2**40)
    rows["b"] = BIG + rng.integers(0, 2**62, n).astype(np.uint64)
    rows["v"] = np.arange(n)
    return rows


@pytest.mark.parametrize("run_rows", [2, 37, 10_000])
@pytest.mark.parametrize("distinct", [1, 3, 50, 5000])
def test_sorts_like_a_stable_lexsort(tmp_path, run_rows, distinct):
    rng = np.random.default_rng(run_rows * 31 + distinct)
    rows = _rows(rng, 1_234, distinct)
    rows["b"][::5] = rows["b"][0]  # ties on both keys: the added order must be kept
    with ExternalSorter(ROW, ("a", "b"), run_rows=run_rows, directory=tmp_path) as sorter:
        for lo in range(0, len(rows), 101):
            sorter.add(rows[lo:lo + 101])
        assert len(sorter) == len(rows)
        batches = list(sorter.sorted_batches())
    out = np.concatenate(batches)
    expected = rows[np.lexsort((rows["b"], rows["a"]))]
    assert out.dtype == ROW
    np.testing.assert_array_equal(out, expected)
    assert out["a"].dtype == np.uint64 and int(out["a"].max()) > 2**53
    # memory bound: a batch holds about run_rows rows (more only for one key's many rows)
    most_of_one_key = int(np.unique(rows["a"], return_counts=True)[1].max())
    assert max(len(b) for b in batches) <= 2 * run_rows + 2 * most_of_one_key
    assert list(tmp_path.iterdir()) == []  # the runs are gone


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(-5, 5)), max_size=60),
       st.integers(1, 9))
def test_any_uint64_keys(tmp_path_factory, pairs, run_rows):
    dtype = np.dtype([("k", "u8"), ("j", "i8")])
    rows = np.array(pairs, dtype=dtype) if pairs else np.zeros(0, dtype)
    with ExternalSorter(dtype, ("k", "j"), run_rows=run_rows,
                        directory=tmp_path_factory.mktemp("sort")) as sorter:
        sorter.add(rows)
        out = list(sorter.sorted_batches())
    out = np.concatenate(out) if out else np.zeros(0, dtype)
    np.testing.assert_array_equal(out, rows[np.lexsort((rows["j"], rows["k"]))])


def test_empty_and_in_memory(tmp_path):
    with ExternalSorter(ROW, ("a",), directory=tmp_path) as sorter:
        assert list(sorter.sorted_batches()) == []
    rows = _rows(np.random.default_rng(0), 50, 10)
    with ExternalSorter(ROW, ("b",), directory=tmp_path) as sorter:
        sorter.add(rows)
        (out,) = sorter.sorted_batches()
    np.testing.assert_array_equal(out, np.sort(rows, order="b"))


def test_bad_use_is_named(tmp_path):
    with pytest.raises(ExternalSortError, match="structured"):
        ExternalSorter(np.dtype("u8"), ("a",), directory=tmp_path)
    with pytest.raises(ExternalSortError, match="'c' is not a field"):
        ExternalSorter(ROW, ("c",), directory=tmp_path)
    with pytest.raises(ExternalSortError, match="not an integer"):
        ExternalSorter(np.dtype([("f", "f8")]), ("f",), directory=tmp_path)
    with pytest.raises(ExternalSortError, match="run_rows"):
        ExternalSorter(ROW, ("a",), run_rows=0, directory=tmp_path)
    with ExternalSorter(ROW, ("a",), directory=tmp_path) as sorter:
        with pytest.raises(ExternalSortError, match="dtype"):
            sorter.add(np.zeros(3, dtype=[("a", "u8")]))
        sorter.add(np.zeros(3, dtype=ROW))
        list(sorter.sorted_batches())
        with pytest.raises(ExternalSortError, match="after sorted_batches"):
            sorter.add(np.zeros(3, dtype=ROW))


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("n", [0, 1, 9_999])
def test_arrow_file_is_what_pyarrow_writes(tmp_path, n):
    rng = np.random.default_rng(n)
    cols = {"id": BIG + rng.integers(0, 2**40, n).astype(np.uint64),
            "x": rng.integers(-2**31, 2**31 - 1, n).astype(np.int32),
            "r": rng.random(n).astype(np.float32), "c": rng.integers(0, 4, n).astype(np.int8)}
    frame = pd.DataFrame(cols)
    feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False).combine_chunks(),
                          tmp_path / "pyarrow.arrow", compression="uncompressed",
                          chunksize=max(n, 1))
    writer = ArrowColumnsWriter(tmp_path / "ours.arrow", {k: v.dtype for k, v in cols.items()},
                                metadata=pandas_metadata({k: v.dtype for k, v in cols.items()}))
    for lo in range(0, max(n, 1), 777):
        writer.append({k: v[lo:lo + 777] for k, v in cols.items()})
    assert writer.close() == n
    assert _digest(tmp_path / "ours.arrow") == _digest(tmp_path / "pyarrow.arrow")
    table = pa.ipc.open_file(pa.memory_map(str(tmp_path / "ours.arrow"))).read_all()
    assert table.column("id").num_chunks == (1 if n else 0)  # one record batch (none if empty)
    np.testing.assert_array_equal(table.column("id").to_numpy(), cols["id"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.arrow", "pyarrow.arrow"]


def test_arrow_writer_rejects_bad_columns(tmp_path):
    with pytest.raises(ArrowColumnsError, match="not a fixed-width number"):
        ArrowColumnsWriter(tmp_path / "a.arrow", {"s": np.dtype(object)})
    writer = ArrowColumnsWriter(tmp_path / "b.arrow", {"a": np.uint64, "b": np.int32})
    with pytest.raises(ArrowColumnsError, match=r"\['b'\] missing"):
        writer.append({"a": np.zeros(2, np.uint64)})
    with pytest.raises(ArrowColumnsError, match="different lengths"):
        writer.append({"a": np.zeros(2, np.uint64), "b": np.zeros(3, np.int32)})
    with pytest.raises(ArrowColumnsError, match="float64, not int32"):
        writer.append({"a": np.zeros(2, np.uint64), "b": np.zeros(2, np.float64)})
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def _rss_file_kb() -> int:
    for line in open("/proc/self/status"):  # noqa: SIM115
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux only")
def test_merge_reads_runs_without_mapping_them(tmp_path):
    # the runs are read back with plain reads: their pages never become resident in this
    # process (a memory-mapped run, or a binary search over a mapped field, would add them)
    rng = np.random.default_rng(5)
    n, run_rows = 2_000_000, 250_000
    rows = _rows(rng, n, 100_000)
    runs_kb = n * ROW.itemsize // 1024
    with ExternalSorter(ROW, ("a", "b"), run_rows=run_rows, directory=tmp_path) as sorter:
        sorter.add(rows)
        before = _rss_file_kb()
        grew = 0
        previous = None
        for batch in sorter.sorted_batches():
            grew = max(grew, _rss_file_kb() - before)
            if previous is not None:
                assert previous <= (int(batch["a"][0]), int(batch["b"][0]))
            previous = (int(batch["a"][-1]), int(batch["b"][-1]))
    assert grew < runs_kb // 10, f"{grew} kB of mapped file pages while merging {runs_kb} kB"
