"""Background warm-up that gives way to the main (UI) thread (Qt-free).

A worker importing navis or pandas holds Python's interpreter lock most of the time. The main
thread then gets it back only after the switch interval (5 ms) each time it let go, and it lets
go at every OpenGL call of a paint and every Qt call: a paint or a layer made beside the warm-up
took 2-4 times as long (0.09 -> 0.41 s for the dock's first paint on this machine).

:class:`UiPulse` tells the warm-up whether the main thread is busy: the main thread beats it from
its event loop (a timer, :mod:`napari_crant._qt.ui_pulse_timer`); no beat for
:data:`BUSY_AFTER_S` means it is running something (a paint, a layer being made). Inside
:func:`yielding_imports`, the calling worker waits before each module it imports while the main
thread is busy, at most :data:`LONGEST_YIELD_S` per busy spell: a main thread that waits on the
worker (for a module the worker is importing) gets no longer stall than that.

The wait happens in an audit hook on Python's ``import`` event, raised before a module is looked
for: not in a ``sys.meta_path`` finder, which Python calls holding its global import lock (the
main thread's every first import would wait on the sleeping worker).
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from collections.abc import Iterator

#: seconds without a beat after which the main thread counts as busy
BUSY_AFTER_S = 0.02
#: longest wait of a worker for one busy spell of the main thread
LONGEST_YIELD_S = 0.3
#: seconds between two checks of a waiting worker
POLL_S = 0.002


class UiPulse:
    """When the main thread's event loop last ran, beaten from it; read by workers.

    Parameters
    ----------
    busy_after_s
        Seconds without a beat after which the main thread counts as busy.
    longest_yield_s
        Longest wait of :meth:`yield_if_busy` for one busy spell.
    """

    def __init__(self, busy_after_s: float = BUSY_AFTER_S, longest_yield_s: float = LONGEST_YIELD_S):
        self.busy_after_s = busy_after_s
        self.longest_yield_s = longest_yield_s
        self._last: float | None = None  # monotonic time of the last beat (None: not beating)
        self._given_up: float | None = None  # the beat of the busy spell a wait gave up on
        self._held_until: float | None = None  # monotonic deadline of a hold (see ``hold``)
        self.yielded_s = 0.0  # seconds workers waited (for logs and tests)

    def beat(self) -> None:
        """The main thread's event loop ran (called by its timer)."""
        self._last = time.monotonic()

    def stop(self) -> None:
        """No more beats (the timer stopped): workers no longer wait."""
        self._last = None
        self._held_until = None

    def hold(self, seconds: float) -> None:
        """Workers wait at their next import until :meth:`release`, at most ``seconds``: the main
        thread has a run of turns to do (between them it beats, and workers would go on). A main
        thread that stops beating for :attr:`longest_yield_s` meanwhile (it may wait on a module a
        held worker is importing) ends the wait, as a busy spell does."""
        self._held_until = time.monotonic() + seconds

    def release(self) -> None:
        """End a :meth:`hold`."""
        self._held_until = None

    def held(self) -> bool:
        """Whether a :meth:`hold` is on."""
        until = self._held_until
        return until is not None and time.monotonic() < until

    @property
    def beating(self) -> bool:
        """Whether the main thread beats this pulse."""
        return self._last is not None

    def busy(self) -> bool:
        """Whether the main thread has not beaten for :attr:`busy_after_s` (while beating)."""
        last = self._last
        return last is not None and time.monotonic() - last > self.busy_after_s

    def yield_if_busy(self) -> float:
        """Wait while the main thread is busy (at most :attr:`longest_yield_s` a busy spell, once:
        after a wait that gave up, no other until the main thread beats again), and while a
        :meth:`hold` is on. Returns the seconds waited."""
        waited_held = 0.0
        if self.held() and self._last != self._given_up:
            start = time.monotonic()
            while self.held():
                last = self._last
                if last is not None and time.monotonic() - last > self.longest_yield_s:
                    self._given_up = last  # no beat for long: the main thread may wait on this worker
                    break
                time.sleep(POLL_S)
            waited_held = time.monotonic() - start
            self.yielded_s += waited_held
        last = self._last
        if last is None or last == self._given_up or not self.busy():
            return waited_held
        start = time.monotonic()
        while self.busy():
            if time.monotonic() - start > self.longest_yield_s:
                self._given_up = last
                break
            time.sleep(POLL_S)
        waited = time.monotonic() - start
        self.yielded_s += waited
        return waited_held + waited

    def wait_until_idle(self, quiet_s: float = 0.05, timeout_s: float = 1.0) -> None:
        """Wait until the main thread has beaten steadily for ``quiet_s`` (its pending paints and
        layouts done), at most ``timeout_s``; at once when it does not beat."""
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while self.beating and time.monotonic() < deadline:
            if self.busy():
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return
            time.sleep(POLL_S)


class CollectorPause:
    """Python's cyclic garbage collector paused while the warm-up imports, then its objects frozen.

    Each full collection walks every object of napari, pandas and navis: 60-110 ms with the
    interpreter lock held, several times while they are imported (the main thread stalled in
    each). :meth:`start` disables the collector (if it runs); :meth:`end` moves every object
    into the permanent generation (``gc.freeze``: later collections skip them) and enables it
    again. Objects become garbage there only by cycles made during the pause, kept for good.
    """

    def __init__(self) -> None:
        self._paused = False
        self._lock = threading.Lock()

    @property
    def paused(self) -> bool:
        """Whether this pause holds the collector."""
        return self._paused

    def start(self) -> None:
        """Disable the collector (nothing if it does not run: another pause, or the user's)."""
        with self._lock:
            if not self._paused and gc.isenabled():
                gc.disable()
                self._paused = True

    def end(self) -> None:
        """Freeze what exists and enable the collector again (once; any thread)."""
        with self._lock:
            if self._paused:
                gc.freeze()
                gc.enable()
                self._paused = False


#: the pulse of each thread inside :func:`yielding_imports`
_PULSES: dict[int, UiPulse] = {}
_HOOK_LOCK = threading.Lock()
_hooked = False


def _before_import(event: str, args: tuple) -> None:
    """An audit hook: Python raises ``import`` before it looks for a module not imported yet,
    holding no import lock but those of the modules this thread is executing."""
    if event == "import" and _PULSES:
        pulse = _PULSES.get(threading.get_ident())
        if pulse is not None:
            pulse.yield_if_busy()


@contextlib.contextmanager
def yielding_imports(pulse: UiPulse | None) -> Iterator[None]:
    """Within this block, the calling thread's imports wait while the main thread is busy.

    Parameters
    ----------
    pulse
        The main thread's pulse; ``None``: nothing changes.
    """
    global _hooked
    if pulse is None:
        yield
        return
    with _HOOK_LOCK:
        if not _hooked:  # (an audit hook cannot be removed: it does nothing outside this block)
            sys.addaudithook(_before_import)
            _hooked = True
    thread = threading.get_ident()
    _PULSES[thread] = pulse
    try:
        yield
    finally:
        _PULSES.pop(thread, None)
