"""No napari-crant worker outlives its viewer: workers are stopped and waited on when it closes.

A worker thread still running when the process exits emits ``finished`` on a deleted
``WorkerBaseSignals`` and Qt aborts the process. :class:`CloseGuard` watches a viewer's main
window: when it closes, every running worker of the napari-crant docks of that viewer is asked
to stop (``quit()``: generator workers stop at their next ``yield``; loads also get their stop
event) and waited on. Removing the query dock does the same for its own workers.

The workers are looked up again while waiting, and once none runs the results they queued for
the main thread are delivered: such a result can start another worker (the EM panel prefetches
the next synapse when one arrives, the query dock lists a dataset's versions after a load); it
is stopped and waited on too, so none is left running when the window is gone (it would end at
interpreter exit on a deleted ``WorkerBaseSignals``, aborting Python).

A script that raises, or just ends, without closing its viewer never closes the window: then
:func:`stop_at_exit` stops and waits on every worker still running or queued when the
interpreter shuts down. ``QApplication.aboutToQuit`` (where napari waits on workers) is emitted
only by an event loop that quits, which such a script never started, and napari's own
:mod:`atexit` hook stops only its window's status thread and dims. :func:`stop_at_exit` runs in
``threading``'s shutdown hooks (``threading._register_atexit``, as :mod:`concurrent.futures`
joins its workers), the first step of the shutdown: before every :mod:`atexit` hook, while the
Qt objects still exist, so that a module a worker imports while it is waited on (the warm-up
imports navis, which imports h5py) still has its own :mod:`atexit` hook run (h5py's unregisters
its HDF5 converters; without it HDF5's C exit handler crashed). Python without that hook uses
:mod:`atexit`.

A worker must not be the first to import a module the main thread reads from ``sys.modules``
without the import lock: :func:`import_before_workers` imports those on the main thread first
(napari's ``run()`` reads ``sys.modules["IPython"].get_ipython``, and the workers import navis,
whose progress bars import IPython: a script calling ``napari.run()`` right after
:func:`napari_crant.view` found IPython half imported and failed).
"""

import atexit
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from qtpy.QtCore import QEvent, QObject

#: modules the main thread reads from ``sys.modules`` without importing them, which a worker would
#: otherwise import first (napari's ``run()`` -> ``_ipython_has_eventloop``)
MAIN_THREAD_IMPORTS = ("IPython",)
#: longest wait (s) for running workers when a viewer or dock closes
CLOSE_TIMEOUT_S = 60.0
#: attributes of a dock widget holding more workers (the query dock's meshes, the QC's EM panel)
_NESTED = ("meshes", "em_panel")


def import_before_workers() -> list[str]:
    """Import :data:`MAIN_THREAD_IMPORTS` (those installed) on the calling (main) thread.

    Called before a viewer's docks start workers. Once imported, later calls cost a lookup.

    Returns
    -------
    list of str
        The modules imported by this call.
    """
    import importlib
    import importlib.util
    import sys

    done = []
    for name in MAIN_THREAD_IMPORTS:
        if name in sys.modules or importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name)
        done.append(name)
    return done


def dock_workers(viewer: Any) -> list[Any]:
    """Running or pending workers of the napari-crant dock widgets of ``viewer``."""
    found: list[Any] = []
    window = getattr(viewer, "window", None)
    for widget in list(getattr(window, "dock_widgets", {}).values()):
        found.extend(widget_workers(widget))
    return found


def widget_workers(widget: Any) -> list[Any]:
    """A dock widget's workers (its ``workers`` set and those of its panels)."""
    out = list(getattr(widget, "workers", ()) or ())
    for name in _NESTED:
        part = getattr(widget, name, None)
        out.extend(getattr(part, "workers", ()) or ())
    return out


def stop_workers(workers: Iterable[Any] | Callable[[], Iterable[Any]],
                 timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
    """Ask workers to stop and wait until none runs; whether all stopped within ``timeout_s``.

    Parameters
    ----------
    workers
        The workers, or a callable listing the current ones: it is asked again after each
        round of Qt events, and workers started meanwhile (by a result delivered during the
        wait) are stopped and waited on as well.
    timeout_s
        Longest wait.

    Workers not started yet (queued by superqt) are waited on too: they run and end.
    Qt events are processed while waiting, so that queued starts and ``finished`` arrive.
    """
    from qtpy.QtWidgets import QApplication

    listed = workers if callable(workers) else (lambda fixed=list(workers): fixed)
    asked: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while True:
        current = list(listed())
        for worker in current:
            if not any(worker is w for w in asked):
                _ask_to_stop(worker)
                asked.append(worker)
        pending = [w for w in (*asked, *current) if _pending(w)]
        if not pending:
            # a worker that just ended may have results queued for the main thread: deliver them,
            # and wait on any worker they start (done when a round of events starts none)
            QApplication.processEvents()
            if not any(_pending(w) for w in listed()) and all(any(w is a for a in asked) for w in listed()):
                return True
            continue
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents()
        time.sleep(0.01)


def _ask_to_stop(worker: Any) -> None:
    """A load's stop event, and ``quit()`` (generator workers stop at their next ``yield``)."""
    stop = getattr(worker, "_napari_crant_stop", None)
    if stop is not None:
        stop.set()
    worker.quit()


def _pending(worker: Any) -> bool:
    """Whether a worker is running or started but not finished yet."""
    if getattr(worker, "is_running", False):
        return True
    return worker in getattr(type(worker), "_worker_set", ())


class CloseGuard(QObject):
    """Stops and waits on the napari-crant workers of a viewer when its main window closes.

    Parameters
    ----------
    viewer
        The viewer whose main window is watched.
    """

    def __init__(self, viewer: Any):
        window = viewer.window._qt_window
        super().__init__(window)
        self._viewer = viewer
        window.installEventFilter(self)

    def eventFilter(self, obj: Any, event: Any) -> bool:
        """On the window's Close event, stop and wait on the workers (the close goes on)."""
        if event.type() == QEvent.Type.Close:
            stop_workers(lambda: dock_workers(self._viewer))
        return False


def guard_viewer(viewer: Any) -> CloseGuard | None:
    """Install a :class:`CloseGuard` on ``viewer`` once (``None`` without a Qt window)."""
    window = getattr(getattr(viewer, "window", None), "_qt_window", None)
    if window is None:
        return None
    guard = window.findChild(CloseGuard)
    return guard if guard is not None else CloseGuard(viewer)


def running_workers() -> list[Any]:
    """Every superqt (napari ``thread_worker``) worker started and not finished, of any dock or viewer."""
    from superqt.utils import WorkerBase

    return list(WorkerBase._worker_set)


def stop_at_exit() -> bool:
    """Stop and wait on every running or queued worker, then close the guarded viewers still open
    (at interpreter shutdown; see the module notes).

    Returns whether no worker was left running (``True`` also when there was nothing to do).
    """
    import sys

    if "qtpy" not in sys.modules:
        return True
    from qtpy.QtWidgets import QApplication

    if QApplication.instance() is None:
        return True
    stopped = stop_workers(running_workers) if running_workers() else True
    close_guarded_viewers()
    return stopped


def close_guarded_viewers() -> int:
    """Close every open viewer that has a :class:`CloseGuard` (one with napari-crant docks).

    A script that ends or raises without ``viewer.close()`` otherwise leaves the window, its
    OpenGL canvas and the docks to the interpreter's teardown, which destroys Python and Qt
    objects in no fixed order (a crash now and then). Closing runs the guard: workers started
    meanwhile are stopped too.

    Returns
    -------
    int
        How many viewers were closed.
    """
    import sys

    if "napari" not in sys.modules:
        return 0
    from napari import Viewer

    closed = 0
    for viewer in list(getattr(Viewer, "_instances", ())):
        window = getattr(getattr(viewer, "window", None), "_qt_window", None)
        if window is None or window.findChild(CloseGuard) is None:
            continue
        try:
            viewer.close()
        except Exception as e:  # at exit: say so, and close the others
            print(f"napari-crant: closing a viewer at exit failed: {type(e).__name__}: {e}",
                  file=sys.stderr)
            continue
        closed += 1
    return closed


def _register_stop_at_exit() -> None:
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(stop_at_exit)
            return
    except RuntimeError:  # imported while the interpreter already shuts down
        pass
    atexit.register(stop_at_exit)


_register_stop_at_exit()
