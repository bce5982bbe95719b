"""The demo's synapse tissue drawn in a separate process, so that drawing never holds napari's GIL.

The demo's EM and segmentation are drawn on demand (:mod:`napari_crant.tissue`): about 0.3 s of
CPU per cutout of numpy calls and Python loops over shapes, most of it holding the GIL. Drawn
in a worker *thread* of the napari process, that time is taken from the main thread too (every
step, click and paint waits for the GIL), and the prefetch never gets ahead of a reviewer.


:class:`TissueProcess` runs :func:`~napari_crant.qc.em_review.fetch_synapse_tissue` for a
snapshot with synthetic tissue in one child process (started on first use), one request at a
time, and hands back the :class:`~napari_crant.qc.em_review.SynapseTissue` it returns (pickled:
a few MB). The child opens the same snapshot under the same name, so its answer is the one the
napari process would have computed (the same functions, byte for byte). Other sources (CAVE, a
snapshot cut from CAVE reading the real EM over the network) are fetched in the calling thread
as before: their time is spent waiting for the network, without the GIL.

The child is ``python -m napari_crant.qc.em_child`` (:mod:`~napari_crant.qc.em_child`), a new
interpreter (never ``fork``: the napari process has threads) that imports nothing of the
parent's ``__main__``. :mod:`multiprocessing`'s ``spawn`` would run the user's script again
in the child: a script without ``if __name__ == "__main__":`` (usual for napari scripts) ran
twice, and the EM panel showed multiprocessing's "bootstrapping phase" error instead of EM.
The two processes talk over a private socket pair (the child's end inherited through
``pass_fds``; no port is opened) with :class:`multiprocessing.connection.Connection` messages.
The child's ``napari_crant`` is the parent's (its source directory leads ``PYTHONPATH``) and it
gets the parent's ``sys.path``, as ``spawn`` would hand it over.

A fetch the review no longer wants is not finished: :attr:`TissueProcess.still_wanted` (set by
the EM panel to :meth:`EMPrefetch.still_wanted <napari_crant.qc.em_prefetch.EMPrefetch.still_wanted>`)
is asked when a fetch starts (a fetch queued behind others, passed before it started, is dropped
without a request) and every :data:`WAIT_POLL_S` while the child draws (a passed one is
cancelled: the child stops at its next checkpoint, within milliseconds, and keeps running for
the next request). Either way :meth:`TissueProcess.fetch` returns ``None`` and nothing is shown.

A child that dies during a request (killed, out of memory) is reported as
:class:`RendererStopped` (a :class:`~napari_crant.tissue.errors.TissueUnavailable`: the dock
shows its message and a retry button); the next request starts a new child.
:meth:`TissueProcess.close` ends the child and reaps it (no zombie).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from napari_crant.datasets import get_source
from napari_crant.qc.em_review import CUTOUT_SIZE_NM, SynapseTissue, fetch_synapse_tissue, synapse_key
from napari_crant.tissue.errors import TissueUnavailable
from napari_crant.tissue.synthetic import has_synthetic_tissue

__all__ = ["RendererStopped", "TissueProcess", "synthetic_snapshot"]

#: the worklist row's fields a fetch reads (sent to the child as plain Python numbers)
ROW_INTS = ("synapse_id", "pre_pt_root_id", "post_pt_root_id")
ROW_FLOATS = ("x", "y", "z")
#: seconds between checks that the child is still alive while waiting for its answer
POLL_S = 0.25
#: seconds between asking :attr:`TissueProcess.still_wanted` while the child draws
WAIT_POLL_S = 0.02
#: seconds a child is given to exit after SIGTERM before it is killed
STOP_S = 5.0
#: the child's module (run with ``python -m``)
CHILD_MODULE = "napari_crant.qc.em_child"
#: renderers whose child may still run: ended at interpreter exit
_LIVE: weakref.WeakSet[TissueProcess] = weakref.WeakSet()


class RendererStopped(TissueUnavailable):
    """The process drawing the demo's tissue stopped (killed, crashed, or shut down with the dock)."""


def synthetic_snapshot(dataset: Any) -> tuple[str, str] | None:
    """``(name, path)`` of ``dataset`` if it is a snapshot with synthetic tissue, else ``None``.

    Parameters
    ----------
    dataset
        Dataset name, snapshot path or source (as :func:`~napari_crant.datasets.get_source`).
    """
    source = get_source(dataset)
    path = getattr(source, "path", None)
    if path is None or not has_synthetic_tissue(path):
        return None
    return str(source.name), str(Path(path))


class TissueProcess:
    """Fetches a synapse's tissue of a synthetic snapshot in a child process (see the module docstring)."""

    def __init__(self) -> None:
        self._request_lock = threading.Lock()  # one request at a time
        self._state_lock = threading.Lock()  # the child and the pipe
        self._process: Any = None
        self._conn: Any = None
        self._closed = False
        #: children started so far (a crash or a kill starts a new one at the next request)
        self.started = 0
        #: ``still_wanted(synapse_id) -> bool``, asked from the fetching thread (cheap and
        #: thread-safe); ``None``: every fetch is wanted
        self.still_wanted: Callable[[int], bool] | None = None
        #: fetches dropped before they started / cancelled while the child drew them
        self.dropped = 0
        self.cancelled = 0
        #: the synapse the child is drawing now (``None``: idle)
        self.current: int | None = None
        self._number = 0

    @property
    def pid(self) -> int | None:
        """Process ID of the running child (``None``: none running)."""
        with self._state_lock:
            p = self._process
            return p.pid if p is not None and p.poll() is None else None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (no request is served after it)."""
        return self._closed

    def _child(self) -> tuple[Any, Any]:
        with self._state_lock:
            if self._closed:
                raise RendererStopped("the EM renderer was shut down (the QC dock was closed)")
            if self._process is None or self._process.poll() is not None:
                self._drop_locked()
                self._process, self._conn = _start_child()
                self.started += 1
                _LIVE.add(self)
            return self._process, self._conn

    def _drop_locked(self) -> None:
        """Forget the child (reaped) and its pipe."""
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            _stop(self._process)
        self._process = self._conn = None

    def _wanted(self, key: int) -> bool:
        wanted = self.still_wanted
        return wanted is None or bool(wanted(key))

    def fetch(self, row: Any, dataset: Any, materialization: Any = "latest", size_nm: Any = CUTOUT_SIZE_NM,
              mip: int = 0) -> SynapseTissue | None:
        """:func:`~napari_crant.qc.em_review.fetch_synapse_tissue`, in the child for a synthetic snapshot.

        Same parameters, result and errors; in addition

        Returns
        -------
        SynapseTissue or None
            ``None`` when :attr:`still_wanted` says the synapse is no longer wanted: before the
            fetch started (dropped), or while the child drew it (cancelled; the child stays up).

        Raises
        ------
        RendererStopped
            The child stopped before answering, or :meth:`close` was called.
        """
        key = synapse_key(row)
        if not self._wanted(key):
            self.dropped += 1
            return None
        snapshot = synthetic_snapshot(dataset)
        if snapshot is None:
            return fetch_synapse_tissue(row, dataset, materialization, size_nm, mip)
        plain = {k: int(row[k]) for k in ROW_INTS} | {k: float(row[k]) for k in ROW_FLOATS}
        with self._request_lock:
            if not self._wanted(key):  # passed while it waited for the previous request
                self.dropped += 1
                return None
            process, conn = self._child()
            self._number += 1
            request = (*snapshot, plain, materialization, tuple(float(v) for v in size_nm), int(mip),
                       self._number)
            self.current = key
            try:
                conn.send(request)
                cancel_sent = False
                waited = 0.0
                while not conn.poll(WAIT_POLL_S):
                    if not cancel_sent and not self._wanted(key):
                        conn.send(("cancel", self._number))  # the child stops within milliseconds
                        cancel_sent = True
                    waited += WAIT_POLL_S
                    if waited >= POLL_S:
                        waited = 0.0
                        if process.poll() is not None:
                            raise EOFError
                ok, value = conn.recv()
            except (EOFError, OSError):
                with self._state_lock:
                    if self._process is process:
                        self._drop_locked()
                    else:
                        _stop(process)
                why = "it was shut down" if self._closed else f"exit code {process.returncode}"
                raise RendererStopped(
                    f"the process drawing the demo's EM stopped before answering ({why}); "
                    "retry to start it again") from None
            finally:
                self.current = None
        if ok is None:  # cancelled: nobody wants it
            self.cancelled += 1
            return None
        if ok:
            return value
        raise value

    def close(self) -> None:
        """End the child (SIGTERM, then SIGKILL after :data:`STOP_S`) and reap it; idempotent.

        A request waiting for the child fails with :class:`RendererStopped`.
        """
        with self._state_lock:
            self._closed = True
            process = self._process
        if process is not None:
            _stop(process)
        if self._request_lock.acquire(blocking=False):  # else the waiting request drops the pipe
            try:
                with self._state_lock:
                    self._drop_locked()
            finally:
                self._request_lock.release()


def _start_child() -> tuple[subprocess.Popen, Connection]:
    """Start ``python -m napari_crant.qc.em_child`` and hand it ``sys.path``; ``(process, connection)``."""
    ours, theirs = socket.socketpair()
    source_dir = str(Path(__file__).resolve().parents[2])  # holds this napari_crant
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_dir, env.get("PYTHONPATH")) if p)
    try:
        # -P: no script directory or working directory in front of sys.path while it starts
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", CHILD_MODULE, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
            env=env, stdin=subprocess.DEVNULL, close_fds=True)
    except OSError as e:
        ours.close()
        raise RendererStopped(f"the process drawing the demo's EM could not start ({e})") from None
    finally:
        theirs.close()
    conn = Connection(ours.detach())
    with contextlib.suppress(OSError):  # it died at once: the request that follows reports it
        conn.send(list(sys.path))
    return process, conn


def _stop(process: subprocess.Popen) -> None:
    """Terminate ``process`` if it runs, and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


@atexit.register
def _close_all() -> None:
    """End every renderer's child when the interpreter exits (a script that never closed its viewer)."""
    for renderer in list(_LIVE):
        renderer.close()
