"""The QC dock's background work: the functions run in worker threads, and a runner for them.

The functions touch neither Qt nor layers; :class:`WorkerRunner` starts them with napari's
``create_worker`` and delivers results on the main thread only while the dock is alive.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from napari.qt.threading import create_worker

from napari_crant._qt.qc_state import REJECTED
from napari_crant._qt.utils import is_alive
from napari_crant.qc.verdicts import VerdictStore
from napari_crant.scene.neuron_data import skeleton_vectors


def dataset_name(dataset: Any) -> str:
    """The name verdicts are stored under for ``dataset`` (opens the source once)."""
    from napari_crant.datasets import get_source

    return str(get_source(dataset).name)


def build_review(root: int, params: dict[str, Any], store: VerdictStore) -> dict[str, Any]:
    """Worklist of ``root`` with its stored verdicts (the verdict columns filled)."""
    from napari_crant.qc.worklist import build_worklist

    wl = build_worklist(root, materialization=params["materialization"],
                        max_distance=params["max_distance"], small_fragment_l2=params["small_fragment_l2"],
                        dataset=params["dataset"])
    name = dataset_name(params["dataset"])
    got = store.for_synapses(name, wl)
    for c in got.columns:
        wl[c] = got[c].to_numpy(object)
    return {"worklist": wl, "dataset_name": name, "root": root}


def rejected_synapses(dataset: Any, synapse_ids: np.ndarray, store: VerdictStore) -> set[int]:
    """Synapse IDs among ``synapse_ids`` marked false positive or wrong partner."""
    v = store.verdicts(dataset_name(dataset))
    if v.empty:
        return set()
    v = v[v["verdict"].isin(REJECTED)]
    return {int(s) for s in v["synapse_id"]} & {int(s) for s in synapse_ids}


def partner_skeleton(partner: int, dataset: Any) -> tuple[int, np.ndarray]:
    """Skeleton vectors of a partner."""
    import napari_crant as nc

    sk = nc.get_l2_skeleton(int(partner), dataset=dataset)
    return int(partner), skeleton_vectors(sk.nodes)


def check_roots(roots: np.ndarray, dataset: Any) -> pd.DataFrame:
    """Which loaded roots are still current (:func:`~napari_crant.qc.edits.check_current`)."""
    from napari_crant.qc.edits import check_current

    return check_current(roots, dataset=dataset)


def edit_diff(old: int, new: int, dataset: Any, threshold: int) -> dict[str, Any]:
    """Synapses gained / lost by an edit and the partner changes."""
    from napari_crant.qc.edits import partner_diff, synapse_diff

    syn = synapse_diff(old, new, dataset=dataset)
    created = pd.Timestamp(syn.attrs["old_created"])
    partners = partner_diff(old, created, "live", threshold=threshold, dataset=dataset)
    return {"old": old, "new": new, "synapses": syn, "partners": partners}


def version_diff(root: int, a: Any, b: Any, dataset: Any, threshold: int) -> pd.DataFrame:
    """Partner weights of ``root`` between materializations ``a`` and ``b``."""
    from napari_crant.qc.edits import partner_diff

    return partner_diff(root, a, b, threshold=threshold, dataset=dataset)


def load_neuron(new: int, kwargs: dict[str, Any]) -> Any:
    """Load one neuron (the successor of an edited one) to the end."""
    from napari_crant.scene.loading import load_neurons, run_to_end

    return run_to_end(load_neurons([int(new)], **kwargs))


class WorkerRunner:
    """Starts worker functions for a widget and keeps track of the running ones.

    Parameters
    ----------
    owner
        The widget; results and errors are dropped once it is deleted.
    on_error
        Called with the message of an error when a start gives no ``errored`` callback.
    """

    def __init__(self, owner: Any, on_error: Callable[[str], None]):
        self.owner = owner
        self.on_error = on_error
        #: running workers
        self.workers: set[Any] = set()
        #: the latest worker started under each name
        self.named: dict[str, Any] = {}

    def running(self, name: str) -> Any:
        """The worker started under ``name`` if it is still running, else ``None``."""
        return self.named.get(name)

    def start(self, func: Callable, *args: Any, returned: Callable[[Any], None],
              errored: Callable[[str], None] | None = None, name: str | None = None) -> Any:
        """Run ``func(*args)`` in a worker; returns the (started) worker.

        No napari progress bar: its animated activity indicator repaints the whole window
        about 25 times a second (under software OpenGL that is most of the main thread);
        the callers say in their dock what is running and replace it with the outcome.
        """
        worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True)

        def on_returned(value: Any) -> None:
            if is_alive(self.owner):
                returned(value)

        def on_error(exc: BaseException) -> None:
            if is_alive(self.owner):
                (errored or self.on_error)(str(exc) or type(exc).__name__)

        def on_finished() -> None:
            self.workers.discard(worker)
            if name is not None and self.named.get(name) is worker:
                del self.named[name]

        worker.returned.connect(on_returned)
        worker.errored.connect(on_error)
        worker.finished.connect(on_finished)
        if name is not None:
            self.named[name] = worker
        self.workers.add(worker)
        worker.start()
        return worker

    def quit_all(self) -> None:
        """Ask every running worker to stop."""
        for w in list(self.workers):
            w.quit()
