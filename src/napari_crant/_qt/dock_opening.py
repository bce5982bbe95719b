"""What the query dock does once it is open: the slow parts off the main thread, or a step a turn.

Opening the dock froze the window for 1-2 s (imports, napari's plugin settings, its first layers
and their first paint, all beside the warm-up's imports). The dock is now made without them,
and :class:`DockOpening` does the rest:

1. in the next event-loop turn: IPython imported on the main thread (it must not be a worker's
   first import: :func:`~napari_crant._qt.worker_guard.import_before_workers`), the main
   thread's :class:`~napari_crant.scene.ui_pulse.UiPulse` starts beating, and two workers start
   once the dock is painted:

   - the Preferences page read and applied (napari's plugin settings parse every plugin's
     manifest, ~0.1 s; see :mod:`napari_crant._qt.preferences`);
   - what napari's first layers need (:func:`~napari_crant.scene.warmup.layer_needs`: pandas,
     the scene's layer data, a unit registry);

2. the preferences applied: the dataset field follows a new default dataset (unless the user
   typed one), problems are shown, and the warm-up starts (the imports of a load, the dataset,
   navis last);
3. the layers' needs ready: the unit registry is installed and the dock's empty layers are made,
   one a turn (:meth:`~napari_crant._qt.session.Session.prepare_layers`), while the workers'
   imports are held (:meth:`~napari_crant.scene.ui_pulse.UiPulse.hold`).

The workers' imports wait while the main thread paints or makes layers (the pulse); the pulse
stops beating once they are done. The garbage collector is paused from the start until the
warm-up's imports are done (:class:`~napari_crant.scene.ui_pulse.CollectorPause`).
"""

from __future__ import annotations

import threading
from typing import Any

from napari.qt.threading import create_worker
from qtpy.QtCore import QTimer

from napari_crant._qt.query_workers import warm_up_worker
from napari_crant._qt.utils import is_alive
from napari_crant.scene.ui_pulse import CollectorPause, UiPulse
from napari_crant.scene.warmup import install_unit_registry, layer_needs

#: ms between two beats of the main thread's pulse
PULSE_MS = 8
#: longest wait (s) of a Load for the Preferences page still being read
PREFERENCES_WAIT_S = 10.0
#: longest time (s) the workers' imports wait while the dock's layers are made (a few turns)
LAYERS_HOLD_S = 1.5
#: longest pause (s) of the garbage collector (until the warm-up's imports are done)
COLLECTOR_PAUSE_S = 60.0


def preferences_worker(pulse: UiPulse | None) -> tuple[list[str], str]:
    """Read and apply the Preferences page once the main thread is idle (worker thread; or the
    main thread, with no pulse).

    Returns
    -------
    tuple
        The problems found, and the default dataset after them.
    """
    from napari_crant._qt.preferences import apply_preferences
    from napari_crant.datasets import get_default_dataset
    from napari_crant.scene.ui_pulse import yielding_imports

    if pulse is not None:
        pulse.wait_until_idle()
    with yielding_imports(pulse):
        problems = apply_preferences()
    return problems, get_default_dataset()


class DockOpening:
    """Starts the query dock's workers once it is open and makes its layers when they are ready.

    Parameters
    ----------
    widget
        The :class:`~napari_crant._qt.query_widget.QueryWidget` (its ``workers`` set, its
        ``dataset`` field, ``set_message``).
    """

    def __init__(self, widget: Any):
        self.widget = widget
        self.pulse = UiPulse()
        self.collector = CollectorPause()
        self._beat = QTimer(widget.native)
        self._beat.setInterval(PULSE_MS)
        self._beat.timeout.connect(self.pulse.beat)
        self._default_before = str(widget.session.params.dataset)  # before the Preferences page
        #: set once the Preferences page is read (or reading it failed), in the worker
        self.preferences_done = threading.Event()
        self._preferences: tuple[list[str], str] | None = None  # what the worker read
        self._preferences_applied = False
        self.preference_problems: list[str] = []
        self.warm_up_worker: Any = None
        #: what the warm-up did (set when it returns)
        self.warm_up_result: str | None = None
        self._running: set[Any] = set()
        self._started = False
        QTimer.singleShot(1, self._start)  # a timer: input and paints due after the dock was made come first

    def _start(self) -> None:
        if self._started or not is_alive(self.widget):
            return
        self._started = True
        from napari_crant._qt.worker_guard import import_before_workers

        import_before_workers()
        self.collector.start()
        QTimer.singleShot(int(COLLECTOR_PAUSE_S * 1000), self.collector.end)
        self.pulse.beat()
        self._beat.start()
        if self._preferences_applied:  # (a load in the dock's first turn read them)
            self._start_warm_up()
        else:
            self._run(self._read_preferences, (), self._apply_preferences, self._start_warm_up)
        self._run(layer_needs, (self.pulse,), install_unit_registry, self._make_layers)

    def _run(self, function: Any, args: tuple, on_result: Any, then: Any) -> Any:
        """``function(*args)`` in a worker of the dock; ``on_result`` with what it returns, then
        ``then()`` (also when it failed), on the main thread."""
        worker = create_worker(function, *args, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(on_result)
        self._running.add(worker)

        def finished() -> None:
            self._running.discard(worker)
            if is_alive(self.widget):
                then()
            self._stop_beating_when_done()

        worker.finished.connect(finished)
        self.widget._track(worker)
        worker.start()
        return worker

    def _read_preferences(self) -> tuple[list[str], str]:
        """(Worker thread.) :func:`preferences_worker`, its result kept for a Load that waits."""
        try:
            self._preferences = preferences_worker(self.pulse)
            return self._preferences
        finally:
            self.preferences_done.set()

    def _apply_preferences(self, result: tuple[list[str], str]) -> None:
        """(Main thread, once.) The dataset field follows the page's default; its problems shown."""
        if self._preferences_applied:
            return
        self._preferences_applied = True
        problems, default = result
        self.preference_problems = problems
        if not is_alive(self.widget):
            return
        self.follow_default(default)
        if problems:
            from napari.utils.notifications import show_warning

            self.widget.set_message("\n".join(problems), error=True)
            for problem in problems:
                show_warning(problem)

    def follow_default(self, default: str) -> None:
        """Show a default dataset set by the Preferences page, unless another was chosen meanwhile."""
        widget, params = self.widget, self.widget.session.params
        if default == self._default_before or str(params.dataset) != self._default_before:
            return
        params.dataset = default
        if widget.dataset.value.strip() in ("", self._default_before):
            widget.dataset.value = default

    def wait_for_preferences(self) -> None:
        """Before a Load: the Preferences page applied. Read here (~0.1 s) if the load comes in the
        turn the dock was made (``napari_crant.view``), else waited for from the worker."""
        if self._preferences_applied:
            return
        if not self._started:
            result: tuple[list[str], str] | None = preferences_worker(None)
        else:
            self.pulse.stop()  # the main thread waits on the worker: the worker must not wait on it
            self.preferences_done.wait(PREFERENCES_WAIT_S)
            result = self._preferences
        if result is not None:
            self._apply_preferences(result)

    @property
    def worker_pulse(self) -> UiPulse | None:
        """The pulse a worker started now gives way to (``None`` once the opening is over)."""
        return self.pulse if self._beat.isActive() else None

    def _start_warm_up(self) -> None:
        self.warm_up_worker = self._run(warm_up_worker, (self.widget._dataset(), self.pulse, self.collector),
                                        self._warmed_up, lambda: None)

    def _warmed_up(self, result: str) -> None:
        self.warm_up_result = result

    def _make_layers(self) -> None:
        """The dock's empty layers, a turn each; meanwhile the workers' imports wait (between two
        turns the main thread beats: an import's module run beside a layer made it ~10 ms longer)."""
        session = self.widget.session
        self.pulse.hold(LAYERS_HOLD_S)
        session.prepare_layers()
        poll = QTimer(self.widget.native)

        def check() -> None:  # the layers written (or the hold over: e.g. they existed already)
            if (session.batches.batches and not session.drawing) or not self.pulse.held():
                self.pulse.release()
                poll.stop()
                self._stop_beating_when_done()

        poll.timeout.connect(check)
        poll.start(10)

    def _stop_beating_when_done(self) -> None:
        if not self._running and not self.pulse.held():
            self._beat.stop()
            self.pulse.stop()
            self.collector.end()
