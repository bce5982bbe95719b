"""The verdict database's log is flushed to the disk in a background thread, not in the key's commit."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from napari_crant.qc.verdicts import VerdictError, VerdictStore
from napari_crant.qc.wal_sync import WalSync
from tiny import sv, synapse_id


def _log_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "napari-crant verdict log flush"]


def test_a_commit_does_not_wait_for_the_disk_and_the_log_is_flushed_after(tmp_path):
    before = len(_log_threads())
    with VerdictStore(tmp_path / "v.sqlite") as store:
        assert store._con.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: no fsync in COMMIT
        assert store._con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.set_verdict("tiny", synapse_id(1), sv(1), sv(5), "correct")
        assert store._log_flush.wait(30)
        assert store._log_flush.flushes >= 1 and store._log_flush.error is None
        assert len(_log_threads()) == before + 1
    assert len(_log_threads()) == before  # closing the store ends its thread
    con = sqlite3.connect(tmp_path / "v.sqlite")
    assert con.execute("SELECT verdict FROM verdicts").fetchall() == [("correct",)]
    con.close()


def test_commits_made_during_a_flush_are_covered_by_a_later_one(tmp_path):
    with VerdictStore(tmp_path / "v.sqlite") as store:
        for i in range(40):
            store.set_verdict("tiny", synapse_id(i), sv(i), sv(i + 50), "correct")
        assert store._log_flush.wait(30)
        flushes = store._log_flush.flushes
        assert 1 <= flushes <= 40
        store.set_verdict("tiny", synapse_id(99), sv(99), sv(149), "false_positive")
        assert store._log_flush.wait(30)
        assert store._log_flush.flushes > flushes


def test_a_log_already_checkpointed_away_needs_no_flush(tmp_path):
    sync = WalSync(tmp_path / "nothing.sqlite")
    sync.request()
    assert sync.wait(30)
    assert sync.flushes == 0 and sync.error is None
    sync.close()
    assert not sync._thread.is_alive()


def test_a_refused_flush_refuses_the_next_verdict_naming_the_database(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with VerdictStore(tmp_path / "v.sqlite") as store:
        store.set_verdict("tiny", synapse_id(1), sv(1), sv(5), "correct")
        assert store._log_flush.wait(30)
        # the disk refuses: here a log path under a file (ENOTDIR), as a failing device would (EIO)
        store._log_flush.wal_path = blocker / "v.sqlite-wal"
        store.set_verdict("tiny", synapse_id(2), sv(2), sv(6), "correct")
        assert store._log_flush.wait(30)
        assert isinstance(store._log_flush.error, OSError)
        with pytest.raises(VerdictError, match=r"v\.sqlite"):
            store.set_verdict("tiny", synapse_id(3), sv(3), sv(7), "correct")
        assert set(store.verdicts("tiny")["synapse_id"].astype(str)) == {str(synapse_id(1)),
                                                                          str(synapse_id(2))}
