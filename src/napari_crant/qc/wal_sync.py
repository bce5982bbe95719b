"""Flushing a verdict database's write-ahead log to the disk in a background thread (Qt-free).

A :class:`~napari_crant.qc.verdicts.VerdictStore` commits every change in SQLite's WAL mode
with ``synchronous=NORMAL``: the change is in the log file (in the operating system's cache)
before ``set_verdict`` returns, so it survives the process being killed or crashing. The flush
to the disk (``fsync``) that makes it survive a power cut as well is not waited for on the
reviewer's key: with ``synchronous=FULL`` SQLite waited for it inside the commit, which took
16-60 ms per verdict while another program wrote to the same disk (ext4 flushes every file's
pending data with one file's ``fsync``), and longer on a network home folder: a freeze per key.

:class:`WalSync` flushes the log from its own thread right after each commit; commits made
while it flushes are covered by the next flush. :meth:`WalSync.close` flushes a last time and
ends the thread. A log that no longer exists was checkpointed into the database file, which
SQLite flushed itself.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class WalSync:
    """Flushes ``<database>-wal`` to the disk in a background thread when asked.

    Parameters
    ----------
    db_path
        The SQLite database whose write-ahead log is flushed.
    """

    def __init__(self, db_path: str | os.PathLike):
        self.wal_path = Path(f"{os.fspath(db_path)}-wal")
        self._changed = threading.Condition()
        self._requested = 0  # generation of the newest request
        self._done = 0  # generation covered by the last finished flush
        self._closing = False
        #: flushes done (a log found and ``fsync`` returned)
        self.flushes = 0
        #: the error of the last flush that failed (``None`` once one succeeds again)
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="napari-crant verdict log flush",
                                        daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a flush of everything committed so far (returns at once)."""
        with self._changed:
            self._requested += 1
            self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until everything requested so far is flushed; whether it was within ``timeout`` s."""
        with self._changed:
            target = self._requested
            return self._changed.wait_for(lambda: self._done >= target or not self._thread.is_alive(),
                                          timeout) and self._done >= target

    def close(self, timeout: float = 30.0) -> None:
        """Flush what was requested, then end the thread (waits up to ``timeout`` s)."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._requested > self._done or self._closing)
                if self._requested == self._done and self._closing:
                    return
                target = self._requested
            self._flush()
            with self._changed:
                self._done = target
                self._changed.notify_all()

    def _flush(self) -> None:
        try:
            fd = os.open(self.wal_path, os.O_RDONLY)
        except FileNotFoundError:  # checkpointed into the database and removed: SQLite flushed it
            self.error = None
            return
        except OSError as e:
            self.error = e
            return
        try:
            os.fsync(fd)
            self.flushes += 1
            self.error = None
        except OSError as e:
            self.error = e
        finally:
            os.close(fd)
