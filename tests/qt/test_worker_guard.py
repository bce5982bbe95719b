"""No napari-crant worker outlives its viewer or its dock (a running worker at exit aborts Python)."""

import threading
import time

import tiny


def _slow_workers(query, seconds=1.0):
    """A generator worker (stops at a yield when asked) and a function worker (cannot be stopped)."""
    from napari.qt.threading import create_worker

    ended = {"yields": 0, "function": False}
    generator_started = threading.Event()

    def generator():
        generator_started.set()
        while True:
            time.sleep(0.02)
            ended["yields"] += 1
            yield

    def function():  # runs at least `seconds` alongside the generator, however late the pool starts it
        generator_started.wait(60)
        time.sleep(seconds)
        ended["function"] = True

    workers = [create_worker(generator, _start_thread=False), create_worker(function, _start_thread=False)]
    for w in workers:
        query._track(w)
        w.start()
    return workers, ended


def test_closing_the_viewer_stops_and_waits_for_the_workers(qtbot, make_napari_viewer, tiny_path):
    from napari_crant._qt.query_widget import QueryWidget

    viewer = make_napari_viewer()
    query = QueryWidget(viewer)
    viewer.window.add_dock_widget(query, name="Query neurons")
    query.dataset.value = tiny_path
    workers, ended = _slow_workers(query)
    qtbot.waitUntil(lambda: all(w.is_running for w in workers), timeout=30_000)
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
    workers, ended = _slow_workers(query, seconds=0.5)
    qtbot.waitUntil(lambda: all(w.is_running for w in workers), timeout=30_000)
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
