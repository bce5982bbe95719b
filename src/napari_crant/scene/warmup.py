"""Warming up in the background when a dock opens: heavy imports, the default dataset (Qt-free).

The first load otherwise pays for importing pandas, the query core, scipy (and caveclient for a
CAVE dataset), and for opening the dataset and reading its annotations. :func:`warm_up` does that
work ahead, in a worker, so that the first neuron appears soon after *Load*; it imports navis last
(~1.5 s: a load draws without it; the QC worklist and the API's skeletons need it). The workers
give way to the main thread while it paints or makes layers (:mod:`~napari_crant.scene.ui_pulse`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from napari_crant.scene.ui_pulse import UiPulse, yielding_imports


def warm_up_units() -> None:
    """Build napari's unit registry (pint's, built lazily by a first layer: ~0.4 s) if no layer has."""
    import pint

    pint.get_application_registry().Unit("nm")


def build_unit_registry() -> Any | None:
    """A unit registry as napari's would be (pint's application registry, which napari's first
    layer builds: ~0.4 s), built here, in a worker; ``None`` if napari's is built already."""
    import pint
    from pint.registry import LazyRegistry

    if not isinstance(pint.get_application_registry().get(), LazyRegistry):
        return None
    return pint.UnitRegistry(on_redefinition="raise")  # what the lazy registry builds


def layer_needs(pulse: UiPulse | None = None) -> Any | None:
    """What napari's first layers need, made in a worker before the dock makes its empty layers:
    pandas imported (napari's layer features, ~0.25 s) with the scene's layer data (the main
    thread then imports nothing a held warm-up may be importing) and a unit registry
    (:func:`build_unit_registry`, ~0.1-0.4 s), once the main thread is idle (the dock painted).

    Parameters
    ----------
    pulse
        The main thread's pulse: the work starts once it is idle, and the imports give way to it.

    Returns
    -------
    pint.UnitRegistry or None
        :func:`build_unit_registry`'s.
    """
    if pulse is not None:
        pulse.wait_until_idle()
    with yielding_imports(pulse):
        import pandas  # noqa: F401
        import pint  # noqa: F401

        import napari_crant.scene.layer_data  # noqa: F401  (the dock's Scene: not imported by the main thread)
    return build_unit_registry()


def install_unit_registry(registry: Any | None) -> bool:
    """Make ``registry`` (:func:`build_unit_registry`'s) napari's units if napari's is still not
    built (no unit of it exists: nothing mixes the two); on the main thread, where napari builds
    its own, so it cannot be half-built meanwhile. Returns whether it was installed."""
    import pint
    from pint.registry import LazyRegistry

    if registry is None or not isinstance(pint.get_application_registry().get(), LazyRegistry):
        return False
    pint.set_application_registry(registry)
    return True


def warm_up(dataset: Any, pulse: UiPulse | None = None, imported: Callable[[], Any] | None = None) -> str:
    """Import the query core and its libraries, and open ``dataset`` with its annotations.

    With ``pulse`` (the main thread's), each import waits while the main thread is busy;
    ``imported`` is called once the imports are done (navis last, after the dataset is opened).

    caveclient is imported only by opening a CAVE dataset (a snapshot or the demo never needs it:
    importing it would delay a first load that competes with the warm-up for the interpreter).
    navis (~1.5 s) is imported last: a load draws its skeletons without it; the QC worklist and
    the API's skeletons need it.

    The demo dataset is only opened when it is already built (building it is not a warm-up).
    Errors opening the dataset are not raised: the load that follows reports them.

    Returns
    -------
    str
        What was warmed up (for logs and tests).
    """
    with yielding_imports(pulse):
        import scipy.spatial  # noqa: F401

        from napari_crant.datasets import demo_path
        from napari_crant.queries import attach, connectivity, skeleton, successors  # noqa: F401
        from napari_crant.queries.common import open_query
        from napari_crant.scene.loading import current_annotations

    warm_up_units()  # after the imports: the dock's units worker has usually installed it
    opened = ""
    if str(dataset) != "demo" or demo_path().exists():
        try:
            with yielding_imports(pulse):  # (opening a dataset imports its reader)
                source, at = open_query(dataset, "latest")
                current_annotations(source, at)
            opened = f", dataset {dataset}"
        except Exception as e:
            opened = f"; dataset not opened ({type(e).__name__})"
    with yielding_imports(pulse):
        import navis  # noqa: F401  (last: a load draws without it; the QC worklist and the API need it)
    if imported is not None:
        imported()
    return f"imports{opened}"
