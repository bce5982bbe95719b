"""No napari-crant worker outlives its viewer or its dock (a running worker at exit aborts Python)."""

import threading
import time

import pytest

import tiny


@pytest.fixture(autouse=True)
def roomy_thread_pool():
    """Two more threads in Qt's global pool (one per core by default), so that the two workers of
    a test run side by side even while a dock's warm-up holds a thread: with one free thread the
    function worker, waiting to be seen running, would hold it and the generator would never start."""
    from qtpy.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    before = pool.maxThreadCount()
    pool.setMaxThreadCount(before + 2)
    yield
    pool.setMaxThreadCount(before)


def _slow_workers(query, seconds=1.0):
    """A generator worker (stops at a yield when asked) and a function worker (cannot be stopped)."""
    from napari.qt.threading import create_worker

    ended = {"yields": 0, "function": False}
    seen = threading.Event()  # set by the test once it saw both running

    def generator():
        while True:
            time.sleep(0.02)
            ended["yields"] += 1
            yield

    def function():  # runs until the test saw it (however busy the main thread is), then `seconds` more
        seen.wait(60)
        time.sleep(seconds)
        ended["function"] = True

    workers = [create_worker(generator, _start_thread=False), create_worker(function, _start_thread=False)]
    for w in workers:
        query._track(w)
        w.start()
    return workers, ended, seen


def test_closing_the_viewer_stops_and_waits_for_the_workers(qtbot, make_napari_viewer, tiny_path):
    from napari_crant._qt.query_widget import QueryWidget

    viewer = make_napari_viewer()
    query = QueryWidget(viewer)
    viewer.window.add_dock_widget(query, name="Query neurons")
    query.dataset.value = tiny_path
    workers, ended, seen = _slow_workers(query)
    qtbot.waitUntil(lambda: all(w.is_running for w in workers), timeout=30_000)
    seen.set()
    viewer.close()
    assert not any(w.is_running for w in workers)
    assert ended["function"]  # the close waited for the function
    yields = ended["yields"]
    time.sleep(0.2)
    assert ended["yields"] == yields  # the generator stopped


def test_closing_the_viewer_during_a_load_stops_the_load(qtbot, make_napari_viewer, tiny_path,
                                                        monkeypatch):
    import napari_crant.scene.loading as loading
    from napari_crant._qt.query_widget import QueryWidget

    steps = []

    def slow(ids, should_stop, **kwargs):  # load_neurons' contract: stop when asked
        for i in range(1000):
            time.sleep(0.02)
            steps.append(i)
            yield i, 1000, "slow"
            if should_stop():
                return loading.LoadResult([], loading.pd.DataFrame(), loading.pd.DataFrame(), {}, {},
                                          requested=1)
        raise AssertionError("the load was not stopped")

    monkeypatch.setattr(loading, "load_neurons", slow)
    viewer = make_napari_viewer()
    query = QueryWidget(viewer)
    viewer.window.add_dock_widget(query, name="Query neurons")
    query.dataset.value = tiny_path
    worker = query.load_ids([tiny.A2, tiny.B2])
    qtbot.waitUntil(lambda: query.progress is not None, timeout=30_000)  # running
    viewer.close()
    assert not worker.is_running
    assert not [w for w in type(worker)._worker_set if w is worker]
    done = len(steps)
    time.sleep(0.2)
    assert len(steps) == done < 1000  # stopped (its stop event, or quit at a yield), not run to the end


def test_removing_the_query_dock_stops_and_waits_for_its_workers(qtbot, viewer, tiny_path):
    from napari_crant._qt.query_widget import QueryWidget

    query = QueryWidget(viewer)
    viewer.window.add_dock_widget(query, name="Query neurons")
    workers, ended, seen = _slow_workers(query, seconds=0.5)
    qtbot.waitUntil(lambda: all(w.is_running for w in workers), timeout=30_000)
    seen.set()
    viewer.window.remove_dock_widget(query.native)
    assert not any(w.is_running for w in workers)
    assert ended["function"]


def test_stop_workers_reports_a_worker_that_did_not_end(qtbot):
    from napari.qt.threading import create_worker

    from napari_crant._qt.worker_guard import stop_workers

    release = threading.Event()
    worker = create_worker(release.wait, 30, _start_thread=False)
    worker.start()
    qtbot.waitUntil(lambda: worker.is_running, timeout=10_000)
    assert stop_workers([worker], timeout_s=0.2) is False  # a blocking function cannot be stopped
    release.set()
    assert stop_workers([worker], timeout_s=10) is True


def test_a_worker_started_while_the_close_waits_is_waited_on_too(qtbot, make_napari_viewer, tiny_path):
    """A result delivered during the close's wait may start another worker (the EM panel prefetches
    the next synapse, the query dock lists versions after a load): it must not outlive the viewer
    (it ended at interpreter exit on a deleted ``WorkerBaseSignals``, aborting Python)."""
    from napari.qt.threading import create_worker

    from napari_crant._qt.query_widget import QueryWidget

    viewer = make_napari_viewer()
    query = QueryWidget(viewer)
    viewer.window.add_dock_widget(query, name="Query neurons")
    query.dataset.value = tiny_path
    qtbot.waitUntil(lambda: not query.workers, timeout=60_000)  # the warm-up is done
    seen = threading.Event()
    started: list = []
    ended = {"second": False}

    def first():  # ends once the test saw it running
        seen.wait(60)
        return "first"

    def second():
        time.sleep(0.5)
        ended["second"] = True

    def on_first(_value):
        worker = create_worker(second, _start_thread=False)
        query._track(worker)
        started.append(worker)
        worker.start()

    worker = create_worker(first, _start_thread=False)
    worker.returned.connect(on_first)
    query._track(worker)
    worker.start()
    qtbot.waitUntil(lambda: worker.is_running, timeout=30_000)
    seen.set()
    deadline = time.monotonic() + 30
    while worker.is_running and time.monotonic() < deadline:  # no Qt events: its result stays queued
        time.sleep(0.01)
    assert not worker.is_running
    viewer.close()  # delivers the queued result, which starts the second worker
    assert started, "the first worker's result did not arrive during the close"
    assert not any(w.is_running for w in started)
    assert not [w for w in type(worker)._worker_set if any(w is s for s in started)]
    assert ended["second"]  # waited on, not left running
    worker.returned.disconnect(on_first)  # no test object keeps the ended workers past the test
    started.clear()
