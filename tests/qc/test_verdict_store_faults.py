"""A busy, read-only or foreign verdict database or file: named clearly, and no verdict is lost."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from napari_crant.qc.verdicts import (
    VerdictError,
    VerdictStore,
    VerdictStoreBusyError,
    VerdictStoreReadOnlyError,
)

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def _journals(path) -> list:
    return sorted(path.parent.glob(f"{path.name}.pending-*.jsonl"))


@contextlib.contextmanager
def locked_by_another_process(path, exclusive: bool = False):
    """Another process holds the database's write lock (or, ``exclusive``, every lock)."""
    script = textwrap.dedent(f"""
        import sqlite3, sys
        con = sqlite3.connect({str(path)!r}, isolation_level=None)
        if {exclusive}:
            con.execute("PRAGMA locking_mode=EXCLUSIVE")
        con.execute("BEGIN IMMEDIATE")
        if {exclusive}:
            con.execute("INSERT INTO meta VALUES ('held', 'by test')")
        print("locked", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "v.sqlite"
    VerdictStore(path).close()
    return path


def test_verdict_given_while_busy_is_pending_then_written(db):
    with VerdictStore(db, busy_timeout=0.2) as store:
        with locked_by_another_process(db):
            t0 = time.perf_counter()
            store.set_verdict("tiny", 1, 2, 3, "correct", reviewer="ana")
            assert time.perf_counter() - t0 < 5  # a bounded wait
            store.set_verdict("tiny", 4, 5, 6, "unsure", reviewer="ana")
            store.clear_verdict("tiny", 4, 5, 6)
            assert store.pending == 3
            assert len(_journals(db)) == 1
            assert len(_journals(db)[0].read_text().splitlines()) == 3
            # shown as given, though not written yet
            assert store.verdicts("tiny")["verdict"].tolist() == ["correct"]
            assert store.retry_pending() == 0 and store.pending == 3
            with VerdictStore(db, busy_timeout=0.2) as other:  # another reader sees the database
                assert other.verdicts().empty
        store.set_verdict("tiny", 7, 8, 9, "false_positive", reviewer="ana")  # writes the pending first
        assert store.pending == 0 and _journals(db) == []
    with VerdictStore(db) as fresh:
        v = fresh.verdicts("tiny")
        assert sorted(zip(v["synapse_id"].tolist(), v["verdict"], strict=True)) == [
            (1, "correct"), (7, "false_positive")]
        assert fresh.history()["change"].tolist() == ["set", "set", "cleared", "set"]


def test_retry_pending_writes_when_the_lock_is_gone(db):
    with VerdictStore(db, busy_timeout=0.1) as store:
        with locked_by_another_process(db):
            store.set_many([{"dataset": "tiny", "synapse_id": i, "pre_pt_supervoxel_id": 1,
                             "post_pt_supervoxel_id": 2, "verdict": "correct"} for i in range(5)])
            assert store.pending == 5
        assert store.retry_pending() == 5
        assert store.pending == 0 and _journals(db) == []
        assert len(store.verdicts()) == 5


def test_pending_verdicts_survive_a_crash(db):
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {SRC!r})
        from napari_crant.qc.verdicts import VerdictStore
        s = VerdictStore({str(db)!r}, busy_timeout=0.1)
        for i in range(3):
            s.set_verdict("tiny", 10**17 + i, 1, 2, "wrong_partner")
            print(s.pending, flush=True)  # acknowledged
        sys.stdin.read()
    """)
    with locked_by_another_process(db):
        proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        acks = [int(proc.stdout.readline()) for _ in range(3)]
        assert acks == [1, 2, 3]
        with VerdictStore(db, busy_timeout=0.1) as other:
            assert other.pending == 0  # a live store's journal is not taken over
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(_journals(db)) == 1
    with VerdictStore(db) as store:  # adopts the dead store's journal and writes it
        stored = sorted(int(x) - 10**17 for x in store.verdicts("tiny")["synapse_id"])
        assert stored == [0, 1, 2]
        assert store.pending == 0
    assert _journals(db) == []


def test_database_locked_for_reading_too_is_named_busy(db):
    busy = pytest.raises(VerdictStoreBusyError, match=f"verdict database {db} is busy")
    with locked_by_another_process(db, exclusive=True), busy:
        VerdictStore(db, busy_timeout=0.1)


@contextlib.contextmanager
def read_only(path):
    """``path`` (a folder or file) cannot be written, even by root (``chattr +i``)."""
    mode = path.stat().st_mode
    os.chmod(path, 0o555 if path.is_dir() else 0o444)
    immutable = False
    if os.geteuid() == 0:
        immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
        if not immutable:
            os.chmod(path, mode)
            pytest.skip("running as root without chattr: cannot make a path read-only")
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        os.chmod(path, mode)


@pytest.mark.parametrize("name", ["new.sqlite", "existing.sqlite", "sub/new.sqlite"])
def test_read_only_folder_is_named(tmp_path, name):
    folder = tmp_path / "ro"
    folder.mkdir()
    VerdictStore(folder / "existing.sqlite").close()
    refused = pytest.raises(VerdictStoreReadOnlyError, match=f"{folder / name} cannot be written")
    with read_only(folder), refused:
        VerdictStore(folder / name)


def test_read_only_database_file_is_named(db):
    with read_only(db), pytest.raises(VerdictStoreReadOnlyError, match=f"{db} cannot be written"):
        VerdictStore(db)


# -- import ------------------------------------------------------------------------------------
def test_foreign_csv_is_refused_from_its_first_line(tmp_path):
    foreign = tmp_path / "big.csv"
    with open(foreign, "wb") as f:
        f.write(b"a,b\n")
        f.write(b"\xff\xfe not text, not csv \x00" * 200_000)  # pandas would fail to decode this
    with VerdictStore(tmp_path / "v.sqlite") as store:
        with pytest.raises(VerdictError, match=f"{foreign} is not a napari-crant verdict export"):
            store.import_file(foreign)
        one_line = tmp_path / "one_line.csv"
        one_line.write_bytes(b"x" * 5_000_000)  # no line break at all
        with pytest.raises(VerdictError, match="not a napari-crant verdict export"):
            store.import_file(one_line)
        assert store.verdicts().empty


def test_foreign_parquet_is_refused_from_its_schema(tmp_path):
    path = tmp_path / "foreign.parquet"
    pd.DataFrame({"dataset": ["tiny"], "verdict": ["correct"]}).to_parquet(path)
    with VerdictStore(tmp_path / "v.sqlite") as store, pytest.raises(
            VerdictError, match="not a napari-crant verdict export"):
        store.import_file(path)


def _export_with(tmp_path, column: str, value: str):
    with VerdictStore(tmp_path / "src.sqlite") as src:
        src.set_verdict("tiny", 1, 2, 3, "correct", x=1.0, y=2.0, z=3.0)
        src.set_verdict("tiny", 4, 5, 6, "unsure", x=1.0, y=2.0, z=3.0)
        path = src.export(tmp_path / "v.csv")
    header = sum(1 for line in path.read_text().splitlines() if line.startswith("# "))
    df = pd.read_csv(path, skiprows=header, dtype=str, keep_default_na=False)
    df.loc[1, column] = value
    lines = path.read_text().splitlines()[:header]
    path.write_text("\n".join(lines) + "\n" + df.to_csv(index=False))
    return path


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("x", "left", "x 'left' is not a number"),
        ("z", "inf", "z 'inf' is not a finite number"),
        ("reviewed_at", "yesterday", "reviewed_at 'yesterday' is not a time"),
        ("reviewed_at", "99999-99-99", "reviewed_at '99999-99-99' is not a time"),
        ("synapse_id", "1.5", "synapse_id '1.5' is not an integer ID"),
    ],
)
def test_bad_value_in_import_names_file_and_row(tmp_path, column, value, match):
    path = _export_with(tmp_path, column, value)
    with VerdictStore(tmp_path / "dst.sqlite") as store:
        with pytest.raises(VerdictError, match=f"{path}, row 2: {match}"):
            store.import_file(path)
        assert store.verdicts().empty


def test_bad_values_given_directly_are_refused(tmp_path):
    with VerdictStore(tmp_path / "v.sqlite") as store:
        with pytest.raises(VerdictError, match="x 'abc' is not a number"):
            store.set_verdict("tiny", 1, 2, 3, "correct", x="abc")
        with pytest.raises(VerdictError, match="reviewed_at 'soon' is not a time"):
            store.set_many([{"dataset": "tiny", "synapse_id": 1, "pre_pt_supervoxel_id": 2,
                             "post_pt_supervoxel_id": 3, "verdict": "correct", "reviewed_at": "soon"}])
        assert store.verdicts().empty and store.pending == 0
