"""The demo's synapse tissue drawn in a child process: the same bytes, errors, crashes, shutdown (no Qt)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tissue_data import snapshot

import napari_crant
from napari_crant.arguments import InvalidArgumentError
from napari_crant.qc.em_process import RendererStopped, TissueProcess, synthetic_snapshot
from napari_crant.qc.em_review import fetch_synapse_tissue
from napari_crant.qc.worklist import build_worklist
from napari_crant.scene.loading import pick_demo_neuron
from napari_crant.tissue.errors import TissueUnavailable

SIZE_NM = (1024.0, 1024.0, 126.0)


@pytest.fixture(scope="module")
def rows():
    path = snapshot()
    wl = build_worklist(pick_demo_neuron(path), dataset=path)
    return [wl.iloc[i] for i in np.linspace(0, len(wl) - 1, 3).astype(int)]


@pytest.fixture
def renderer():
    r = TissueProcess()
    yield r
    r.close()


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited and been reaped (no zombie left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state not in ("R", "S", "D", "Z", "T", "t")  # pragma: no cover - a reused pid


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy(pid: int, idle: float, timeout: float = 60.0) -> None:
    """Wait until the idle child ``pid`` works on a request (its CPU time grows)."""
    end = time.monotonic() + timeout
    while _cpu_s(pid) < idle + 0.3:
        assert time.monotonic() < end, "the child never started drawing"
        time.sleep(0.02)


def _long_fetch_drawing(renderer, row, path) -> tuple[threading.Thread, list[BaseException]]:
    """Start a fetch that takes seconds of drawing in a thread; return once the child draws it.
    The thread's exception, if any, is put in the returned list."""
    pid = renderer.pid
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            renderer.fetch(row, path, "latest", (4096.0, 4096.0, 294.0))
        except BaseException as e:
            outcome.append(e)

    idle = _cpu_s(pid)
    t = threading.Thread(target=fetch)
    t.start()
    _busy(pid, idle)
    return t, outcome


def test_the_child_draws_the_same_bytes_as_the_napari_process(renderer, rows):
    path = snapshot()
    assert synthetic_snapshot(path) is not None
    for row in rows:
        for materialization in ("latest", 0):
            here = fetch_synapse_tissue(row, path, materialization, SIZE_NM)
            there = renderer.fetch(row, path, materialization, SIZE_NM)
            assert there.synapse_id == here.synapse_id and there.pre_root == here.pre_root
            assert there.post_root == here.post_root and there.notes == here.notes
            assert np.array_equal(there.center, here.center)
            for a, b in ((there.em, here.em), (there.segmentation, here.segmentation)):
                assert a.data.dtype == b.data.dtype and a.data.tobytes() == b.data.tobytes()
                assert a.scale == b.scale and a.translate == b.translate and a.attrs == b.attrs
            assert there.outline.dtype == np.uint64 and np.array_equal(there.outline, here.outline)
    assert renderer.started == 1 and renderer.pid is not None and renderer.pid != os.getpid()


def test_errors_in_the_child_are_the_same_errors(renderer, rows):
    path = snapshot()
    far = rows[0].copy()
    far["x"] = -1e9
    with pytest.raises(InvalidArgumentError) as here:
        fetch_synapse_tissue(far, path, "latest", SIZE_NM)
    with pytest.raises(InvalidArgumentError) as there:
        renderer.fetch(far, path, "latest", SIZE_NM)
    assert str(there.value) == str(here.value) and "outside the volume" in str(there.value)
    assert renderer.fetch(rows[0], path, "latest", SIZE_NM).synapse_id == int(rows[0]["synapse_id"])
    assert renderer.started == 1  # an error is an answer: the child lives on


def test_other_sources_are_read_in_the_calling_thread(renderer, tiny_path, rows):
    # the tiny snapshot has neither skeleton nodes nor recorded EM URLs
    assert synthetic_snapshot(tiny_path) is None
    with pytest.raises(TissueUnavailable, match="no image"):
        renderer.fetch(rows[0], tiny_path, "latest", SIZE_NM)
    assert renderer.started == 0 and renderer.pid is None


def test_a_child_killed_mid_request_is_a_clear_error_and_the_next_request_works(renderer, rows):
    path = snapshot()
    renderer.fetch(rows[0], path, "latest", SIZE_NM)  # started and warm
    pid = renderer.pid
    t, outcome = _long_fetch_drawing(renderer, rows[1], path)  # killed while it draws
    os.kill(pid, signal.SIGKILL)
    t.join(60)
    assert not t.is_alive(), "the request hung after the child died"
    assert len(outcome) == 1 and isinstance(outcome[0], RendererStopped)
    assert "stopped before answering" in str(outcome[0]) and "retry" in str(outcome[0])
    assert _gone(pid)
    again = renderer.fetch(rows[1], path, "latest", SIZE_NM)
    assert again.synapse_id == int(rows[1]["synapse_id"])
    assert renderer.started == 2 and renderer.pid not in (None, pid)


def test_close_ends_and_reaps_the_child_and_refuses_later_requests(rows):
    path = snapshot()
    renderer = TissueProcess()
    renderer.fetch(rows[0], path, "latest", SIZE_NM)
    pid = renderer.pid
    renderer.close()
    assert renderer.closed and renderer.pid is None and _gone(pid)
    with pytest.raises(RendererStopped, match="shut down"):
        renderer.fetch(rows[0], path, "latest", SIZE_NM)
    renderer.close()  # idempotent


def test_close_while_a_request_waits_fails_it_at_once(rows):
    path = snapshot()
    renderer = TissueProcess()
    renderer.fetch(rows[0], path, "latest", SIZE_NM)
    pid = renderer.pid
    t, outcome = _long_fetch_drawing(renderer, rows[1], path)
    start = time.perf_counter()
    renderer.close()
    t.join(30)
    assert time.perf_counter() - start < 10 and not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], RendererStopped) and "shut down" in str(outcome[0])
    assert _gone(pid)


GUARDLESS_SCRIPT = """
import sys
from napari_crant.qc.em_process import TissueProcess
from napari_crant.qc.worklist import build_worklist
from napari_crant.scene.loading import pick_demo_neuron

print("top level of the script", flush=True)
path = sys.argv[1]
row = build_worklist(pick_demo_neuron(path), dataset=path).iloc[0]
renderer = TissueProcess()
tissue = renderer.fetch(row, path, "latest", (512.0, 512.0, 42.0))
print("tissue", tissue.synapse_id, renderer.started, "child", renderer.pid, flush=True)
# the script ends without closing the renderer: the interpreter's exit ends and reaps the child
"""


def test_a_script_without_a_main_guard_runs_once_and_gets_its_tissue(tmp_path, rows):
    """The child is a module of its own: the parent's ``__main__`` (a user's script without
    ``if __name__ == "__main__":``) is not run again in it, as multiprocessing's spawn did; a
    renderer never closed ends with the script."""
    script = tmp_path / "no_guard.py"
    script.write_text(GUARDLESS_SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(napari_crant.__file__).parents[1]),
                                         env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, str(script), str(snapshot())], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("top level of the script") == 1, proc.stdout
    first = build_worklist(pick_demo_neuron(snapshot()), dataset=snapshot()).iloc[0]
    assert f"tissue {int(first['synapse_id'])} 1 child" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert "bootstrapping" not in proc.stdout + proc.stderr
    child = int(proc.stdout.split(" child ")[1].split()[0])
    assert child != os.getpid() and _gone(child)  # ended and reaped at the script's exit, no zombie


def test_a_fetch_no_longer_wanted_before_it_starts_is_dropped_without_a_request(renderer, rows):
    path = snapshot()
    key = int(rows[0]["synapse_id"])
    renderer.still_wanted = lambda k: k != key
    assert renderer.fetch(rows[0], path, "latest", SIZE_NM) is None
    assert renderer.dropped == 1 and renderer.cancelled == 0
    assert renderer.started == 0 and renderer.pid is None  # no child was started for it
    assert renderer.fetch(rows[1], path, "latest", SIZE_NM).synapse_id == int(rows[1]["synapse_id"])


def test_a_fetch_passed_while_the_child_draws_it_is_cancelled_and_the_child_serves_the_next(renderer, rows):
    path = snapshot()
    renderer.fetch(rows[0], path, "latest", SIZE_NM)  # started and warm
    pid = renderer.pid
    long_key = int(rows[1]["synapse_id"])
    passed = threading.Event()
    renderer.still_wanted = lambda k: not (passed.is_set() and k == long_key)
    outcome: list = []

    def fetch() -> None:  # seconds of drawing if it ran to its end
        outcome.append(renderer.fetch(rows[1], path, "latest", (6144.0, 6144.0, 336.0)))

    idle = _cpu_s(pid)
    t = threading.Thread(target=fetch)
    t.start()
    _busy(pid, idle)  # the child draws it
    assert renderer.current == long_key
    passed.set()  # the walk passed it
    t.join(120)
    assert not t.is_alive(), "the cancelled fetch never returned"
    # None only comes from the child's "cancelled" answer: the render stopped at a checkpoint
    assert outcome == [None] and renderer.cancelled == 1 and renderer.dropped == 0
    assert renderer.current is None and renderer.pid == pid and renderer.started == 1
    # the pipe holds no late answer: the next request gets its own tissue, the same bytes as here
    here = fetch_synapse_tissue(rows[2], path, "latest", SIZE_NM)
    there = renderer.fetch(rows[2], path, "latest", SIZE_NM)
    assert there.synapse_id == here.synapse_id == int(rows[2]["synapse_id"])
    assert there.em.data.tobytes() == here.em.data.tobytes()
    assert there.segmentation.data.tobytes() == here.segmentation.data.tobytes()


def test_a_cancel_that_comes_after_the_answer_is_ignored(renderer, rows):
    path = snapshot()
    first = renderer.fetch(rows[0], path, "latest", SIZE_NM)
    renderer._conn.send(("cancel", renderer._number))  # what a cancel sent as the answer arrived does
    again = renderer.fetch(rows[1], path, "latest", SIZE_NM)
    assert first.synapse_id == int(rows[0]["synapse_id"]) and again.synapse_id == int(rows[1]["synapse_id"])
    assert renderer.cancelled == 0 and renderer.started == 1
