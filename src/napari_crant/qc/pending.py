"""Verdicts waiting for a busy database: kept in an append-only journal until written.

Each :class:`~napari_crant.qc.verdicts.VerdictStore` that has to wait gets its own journal
next to the database, ``<db>.pending-<id>.jsonl``, holding one JSON line per waiting change
(appended and fsynced before the reviewer is told the verdict was taken). The store holds an
exclusive ``flock`` on it while it lives; a journal nobody holds was left by a process that
ended (or crashed) before writing it, and the next store to open the database adopts it.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, journals are adopted as found
    fcntl = None  # type: ignore[assignment]


def journal_glob(db_path: Path) -> str:
    """The glob pattern of the journals of ``db_path`` (relative to its folder)."""
    return f"{db_path.name}.pending-*.jsonl"


def _read_entries(path: Path) -> list[dict[str, Any]]:
    entries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break  # torn by a crash mid-append: never acknowledged
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                warnings.warn(f"{path}, line {n}: not a pending verdict, skipped", stacklevel=3)
                continue
            if isinstance(entry, dict) and entry.get("op") in ("set", "clear"):
                entries.append(entry)
    return entries


class PendingJournal:
    """The append-only journal of one store (created on first use).

    Parameters
    ----------
    db_path
        The verdict database the journal belongs to.
    """

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.path = db_path.with_name(f"{db_path.name}.pending-{uuid.uuid4().hex[:12]}.jsonl")
        self._file: IO[str] | None = None

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Append ``entries`` and fsync them (raises ``OSError`` if the folder is not writable)."""
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held while pending
            if fcntl is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        self._file.write("".join(json.dumps(e) + "\n" for e in entries))
        self._file.flush()
        os.fsync(self._file.fileno())

    def clear(self) -> None:
        """Remove the journal (everything in it was written to the database)."""
        if self._file is not None:
            self.path.unlink(missing_ok=True)
            self._file.close()
            self._file = None

    def close(self) -> None:
        """Release the journal, keeping its file (its entries are adopted at the next open)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def adopt_orphans(self) -> list[Orphan]:
        """Journals of this database that no live store holds, oldest first, locked for the caller.

        The caller writes each one's entries, then calls :meth:`Orphan.done` (or
        :meth:`Orphan.release` to leave it for later).
        """
        found = []
        paths = sorted(self.db_path.parent.glob(journal_glob(self.db_path)), key=lambda p: p.stat().st_mtime)
        for path in paths:
            if path == self.path:
                continue
            try:
                f = open(path, encoding="utf-8")  # noqa: SIM115 - held by the Orphan
            except OSError:
                continue
            if fcntl is not None:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    f.close()
                    continue  # held by a live store
            found.append(Orphan(path, _read_entries(path), f))
        return found


class Orphan:
    """A journal left by a store that ended before writing it, locked while it is adopted."""

    def __init__(self, path: Path, entries: list[dict[str, Any]], handle: IO[str]):
        self.path = path
        self.entries = entries
        self._handle = handle

    def done(self) -> None:
        """Its entries are in the database: delete it."""
        self.path.unlink(missing_ok=True)
        self._handle.close()

    def release(self) -> None:
        """Leave it (and its lock) for a later store."""
        self._handle.close()
