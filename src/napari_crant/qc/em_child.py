"""The child process drawing the demo's synapse tissue: ``python -m napari_crant.qc.em_child FD``.

Started by :class:`~napari_crant.qc.em_process.TissueProcess` as a module of its own, never
through :mod:`multiprocessing`'s ``spawn``: that start method runs the parent's ``__main__``
again in the child (``multiprocessing.spawn.prepare`` imports it as ``__mp_main__``), so a
user's script without ``if __name__ == "__main__":`` ran twice and its second run failed with
"An attempt has been made to start a new process before the current process has finished its
bootstrapping phase". Here nothing of the parent's ``__main__`` is imported.

``FD`` is this process's end of a socket pair (inherited through ``pass_fds``, nothing listens
on a port). Messages are pickled :class:`multiprocessing.connection.Connection` messages: first
the parent's ``sys.path`` (as ``spawn`` hands it over, so that the child imports the modules the
parent would), then requests ``(name, path, row, materialization, size_nm, mip, number)``
answered by ``(True, SynapseTissue)`` or ``(False, exception)``, until ``None`` or the parent's
end closes. While a request is drawn the parent may send ``("cancel", number)``: the render
stops at its next checkpoint (:mod:`napari_crant.tissue.interrupt`, every few milliseconds)
and the answer is ``(None, "cancelled")``; a cancel that comes after the answer is ignored.
"""

from __future__ import annotations

import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["serve"]


#: seconds between looks at the pipe for a cancel while drawing
CANCEL_POLL_S = 0.005


class _CancelCheck:
    """The check run at the render's checkpoints: a look at the pipe (at most every
    :data:`CANCEL_POLL_S`) for a cancel of request ``number``, or the parent's goodbye."""

    def __init__(self, conn: Any, number: int):
        self.conn, self.number = conn, number
        self.last = time.monotonic()
        #: the parent said goodbye (``None``) or went away while the request was drawn
        self.closing = False

    def __call__(self) -> None:
        from napari_crant.tissue.interrupt import RenderInterrupted

        now = time.monotonic()
        if now - self.last < CANCEL_POLL_S:
            return
        self.last = now
        try:
            while self.conn.poll(0):
                message = self.conn.recv()
                if message is None:
                    self.closing = True
                    raise RenderInterrupted
                if _is_cancel(message) and message[1] == self.number:
                    raise RenderInterrupted
        except (EOFError, OSError):
            self.closing = True
            raise RenderInterrupted from None


def _is_cancel(message: Any) -> bool:
    return isinstance(message, tuple) and len(message) == 2 and message[0] == "cancel"


def serve(conn: Any) -> None:
    """Answer tissue requests on ``conn`` until ``None`` or the parent goes away (see the module notes).

    Parameters
    ----------
    conn
        A :class:`multiprocessing.connection.Connection` to the parent.
    """
    from napari_crant.datasets import register_dataset
    from napari_crant.qc.em_review import fetch_synapse_tissue
    from napari_crant.tissue.errors import TissueUnavailable
    from napari_crant.tissue.interrupt import RenderInterrupted, interruptible

    registered: dict[str, str] = {}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the napari process went away
            return
        if request is None:
            return
        if _is_cancel(request):  # came after its answer: nothing to stop
            continue
        name, path, row, materialization, size_nm, mip, number = request
        if registered.get(name) != path:  # the same name as in the napari process, for the cutouts' attrs
            register_dataset(name, path)
            registered[name] = path
        check = _CancelCheck(conn, number)
        try:
            with interruptible(check):
                reply = (True, fetch_synapse_tissue(row, name, materialization, size_nm, mip))
        except RenderInterrupted:
            if check.closing:
                return
            reply = (None, "cancelled")
        except Exception as e:  # sent back and raised in the napari process
            reply = (False, e)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as e:  # an exception that does not pickle: its message does
            conn.send((False, TissueUnavailable(f"{type(reply[1]).__name__}: {reply[1]} ({e})")))


def main(argv: list[str]) -> int:
    """Entry point: ``argv`` is ``[FD]``; returns the exit code."""
    # Ctrl+C in the terminal reaches the whole process group: the parent decides when this ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(argv[0]))
    try:
        parent_path = conn.recv()
    except (EOFError, OSError):
        return 0
    parent_path = [p for p in parent_path if isinstance(p, str)]
    sys.path[:] = parent_path + [p for p in sys.path if p not in parent_path]
    serve(conn)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
