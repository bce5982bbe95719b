"""``scene/ui_pulse.py``: background imports that give way to a busy main thread, and the garbage
collector paused while the warm-up imports (Qt-free: a plain thread beats the pulse here)."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time

from napari_crant.scene.ui_pulse import CollectorPause, UiPulse, yielding_imports


class Beating:
    """A thread beating ``pulse`` every 2 ms, except while ``paused`` is set (a busy main thread)."""

    def __init__(self, pulse: UiPulse):
        self.pulse, self.paused, self.stopped = pulse, threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            if not self.paused.is_set():
                self.pulse.beat()
            time.sleep(0.002)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def test_no_waiting_without_beats():
    pulse = UiPulse(busy_after_s=0.01)
    assert not pulse.beating and not pulse.busy()
    t = time.monotonic()
    assert pulse.yield_if_busy() == 0.0
    pulse.wait_until_idle(timeout_s=5)  # nothing beats: at once
    assert time.monotonic() - t < 0.5


def test_waits_while_busy_until_the_next_beat():
    pulse = UiPulse(busy_after_s=0.02, longest_yield_s=5.0)
    beating = Beating(pulse)
    try:
        time.sleep(0.05)
        assert pulse.beating and not pulse.busy()
        assert pulse.yield_if_busy() == 0.0  # idle: the worker goes on
        beating.paused.set()  # the main thread is busy for 0.3 s
        time.sleep(0.05)
        assert pulse.busy()
        threading.Timer(0.25, beating.paused.clear).start()
        waited = pulse.yield_if_busy()
        assert 0.15 < waited < 2.0  # until it beat again
        assert not pulse.busy()
    finally:
        beating.stop()


def test_a_busy_spell_costs_one_longest_wait():
    """A main thread that never beats again (it waits on the worker) gets one wait, not one per import."""
    pulse = UiPulse(busy_after_s=0.01, longest_yield_s=0.1)
    pulse.beat()
    time.sleep(0.05)
    waited = pulse.yield_if_busy()
    assert 0.09 < waited < 1.0
    assert pulse.yield_if_busy() == 0.0  # the same spell: given up on
    pulse.beat()  # a new beat, then busy again: a new spell, a new wait
    time.sleep(0.05)
    assert pulse.yield_if_busy() > 0.09
    pulse.stop()
    assert not pulse.beating and pulse.yield_if_busy() == 0.0


def test_a_hold_keeps_workers_waiting_until_released_or_over():
    """Between the turns of a run of work the main thread beats: a hold keeps the workers waiting
    across the whole run (released, or at most its seconds)."""
    pulse = UiPulse(busy_after_s=0.02)
    beating = Beating(pulse)  # the main thread beats all along
    try:
        time.sleep(0.05)
        pulse.hold(5.0)
        assert pulse.held()
        threading.Timer(0.3, pulse.release).start()
        waited = pulse.yield_if_busy()
        assert 0.25 < waited < 3.0 and not pulse.held()
        pulse.hold(0.2)  # never released: over after its seconds
        t = time.monotonic()
        pulse.yield_if_busy()
        assert 0.15 < time.monotonic() - t < 2.0 and not pulse.held()
        assert pulse.yield_if_busy() == 0.0
        pulse.hold(5.0)
        pulse.stop()  # no more beats: no hold either
        assert not pulse.held() and pulse.yield_if_busy() == 0.0
    finally:
        beating.stop()


def test_a_hold_ends_when_the_main_thread_stops_beating():
    """A main thread that waits on a held worker (for a module it is importing) stops beating: the
    hold's wait ends after ``longest_yield_s``, once for that spell."""
    pulse = UiPulse(busy_after_s=0.02, longest_yield_s=0.2)
    pulse.beat()
    pulse.hold(5.0)  # and nothing beats any more
    t = time.monotonic()
    pulse.yield_if_busy()
    assert 0.15 < time.monotonic() - t < 1.5
    t = time.monotonic()
    pulse.yield_if_busy()  # the same spell: given up on
    assert time.monotonic() - t < 0.1
    assert pulse.held()  # the hold itself stays until released or over


def test_wait_until_idle_waits_for_steady_beats():
    pulse = UiPulse(busy_after_s=0.02)
    beating = Beating(pulse)
    beating.paused.set()
    pulse.beat()
    try:
        time.sleep(0.05)
        threading.Timer(0.3, beating.paused.clear).start()
        t = time.monotonic()
        pulse.wait_until_idle(quiet_s=0.05, timeout_s=5)
        assert 0.25 < time.monotonic() - t < 3.0
    finally:
        beating.stop()


def test_imports_of_a_worker_wait_for_the_main_thread(tmp_path, monkeypatch):
    """Inside ``yielding_imports`` a worker's import of a module waits while the main thread is busy;
    other threads' imports, and imports after the block, do not wait."""
    for name in ("pulse_mod_a", "pulse_mod_b", "pulse_mod_c"):
        (tmp_path / f"{name}.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    pulse = UiPulse(busy_after_s=0.02, longest_yield_s=5.0)
    beating = Beating(pulse)
    done: dict[str, float] = {}

    def worker() -> None:
        with yielding_imports(pulse):
            import pulse_mod_a  # noqa: F401
        done["a"] = time.monotonic()

    try:
        time.sleep(0.05)
        beating.paused.set()
        time.sleep(0.05)  # busy now
        start = time.monotonic()
        thread = threading.Thread(target=worker)
        thread.start()
        import pulse_mod_b  # noqa: F401  (this thread is not inside the block: no wait)

        assert time.monotonic() - start < 0.2
        time.sleep(0.3)
        assert "a" not in done  # still waiting for the main thread
        beating.paused.clear()
        thread.join(5)
        assert "a" in done and done["a"] - start > 0.3
        with yielding_imports(pulse):
            pass
        beating.paused.set()
        time.sleep(0.05)
        t = time.monotonic()
        import pulse_mod_c  # noqa: F401  (outside the block)

        assert time.monotonic() - t < 0.2
    finally:
        beating.stop()
        for name in ("pulse_mod_a", "pulse_mod_b", "pulse_mod_c"):
            sys.modules.pop(name, None)


def test_yielding_imports_without_a_pulse_changes_nothing():
    with yielding_imports(None):
        import json  # noqa: F401


_COLLECTOR = """
import gc
from napari_crant.scene.ui_pulse import CollectorPause
assert gc.isenabled()
pause = CollectorPause()
pause.start()
assert not gc.isenabled() and pause.paused
kept = [[] for _ in range(1000)]
before = gc.get_freeze_count()
pause.end()
assert gc.isenabled() and not pause.paused
assert gc.get_freeze_count() >= before + 1000  # what existed is frozen: collections skip it
pause.end()  # once
assert gc.isenabled()
gc.disable()  # the user's choice is left alone
other = CollectorPause()
other.start()
assert not other.paused
other.end()
assert not gc.isenabled()
print("ok")
"""


def test_collector_pause_freezes_then_enables():
    """(In a fresh interpreter: freezing is process-wide.)"""
    out = subprocess.run([sys.executable, "-c", _COLLECTOR], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_collector_pause_ends_from_another_thread():
    pause = CollectorPause()
    was = gc.isenabled()
    pause.start()
    try:
        thread = threading.Thread(target=pause.end)
        thread.start()
        thread.join()
        assert gc.isenabled() == was
    finally:
        gc.unfreeze()  # (this test process's objects back in the collector's generations)
        if was:
            gc.enable()
