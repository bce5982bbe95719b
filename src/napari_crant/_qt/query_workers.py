"""The query dock's worker functions (run in napari ``thread_worker``s; no Qt, no layers)."""

import threading
from typing import Any


def search_worker(criteria: dict[str, str], regex: bool, case: bool, exact: bool, dataset: Any
                   ) -> tuple[int, Any]:
    """Count (and list) neurons matching annotation criteria (worker thread)."""
    from napari_crant.datasets import get_source
    from napari_crant.queries.criteria import NeuronCriteria

    nc = NeuronCriteria(regex=regex, case=case, exact=exact, dataset=dataset, **criteria)
    found = nc.filter(get_source(dataset).annotations())
    return int(found["root_id"].nunique()), found["root_id"].to_numpy().astype("uint64")


def versions_worker(dataset: Any) -> list[str]:
    """Materialization choices of a dataset (worker thread)."""
    from napari_crant.queries.annotations import list_versions

    v = list_versions(dataset)
    return [str(int(x)) for x, ok in zip(v["version"], v["valid"], strict=True) if ok][::-1]


def warm_up_worker(dataset: Any, pulse: Any = None, collector: Any = None) -> str:
    """The background warm-up (worker thread); then the objects of start-up leave the garbage
    collector's generations (``gc.freeze``): its full collections no longer walk the 100,000s of
    objects of napari, pandas and navis, which paused the main thread for 0.5 s at the first load.
    ``collector`` (a :class:`~napari_crant.scene.ui_pulse.CollectorPause`) ends once the imports
    are done."""
    import gc

    from napari_crant.scene.warmup import warm_up

    done = warm_up(dataset, pulse, imported=None if collector is None else collector.end)
    gc.freeze()
    return done


def load_worker(ids: Any, criteria: dict[str, str] | None, search: dict[str, Any], kwargs: dict[str, Any],
                 top_partners: int, stop: threading.Event, pulse: Any = None):
    """Generator run in a worker: resolve criteria, then :func:`load_neurons` (``stop``: cancel,
    keeping the neurons loaded so far). With ``pulse`` (the query dock's, while it opens), its
    imports give way to the main thread as the warm-up's do (it cannot draw before the dock's
    layers are made, and the window stays responsive)."""
    from napari_crant.scene.ui_pulse import yielding_imports

    with yielding_imports(pulse):
        return (yield from _load(ids, criteria, search, kwargs, top_partners, stop))


def _load(ids: Any, criteria: dict[str, str] | None, search: dict[str, Any], kwargs: dict[str, Any],
          top_partners: int, stop: threading.Event):
    import numpy as np

    from napari_crant.scene.loading import load_neurons

    if criteria:
        from napari_crant.queries.criteria import NeuronCriteria

        yield 0, 1, "searching annotations"
        roots = NeuronCriteria(dataset=kwargs["dataset"], **search, **criteria).get_roots()
        ids = roots if ids is None else np.concatenate([np.asarray(ids, np.uint64), roots])
    return (yield from load_neurons(ids, top_partners=top_partners, should_stop=stop.is_set, **kwargs))
