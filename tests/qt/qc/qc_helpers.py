"""Helpers of the QC dock tests: load neurons into a viewer's session, build a list, wait for workers."""

from napari_crant._qt.session import get_session
from napari_crant.qc.verdicts import VerdictStore
from napari_crant.scene.loading import load_neurons, run_to_end

#: the worklist order of tiny.A2 (synapse numbers)
WORKLIST_A2 = [4, 2, 1, 9, 11, 10, 12, 5, 3]


def load(viewer, ids, dataset, **kw):
    """Load ``ids`` into the viewer's session (as the query dock would), with session params ``kw``."""
    session = get_session(viewer)
    session.params.dataset = dataset
    for k, v in kw.items():
        setattr(session.params, k, v)
    session.add(run_to_end(load_neurons(ids, **session.params.load_kwargs())))
    return session


def wait(qtbot, qc, timeout=30_000):
    """Wait until the dock's workers are done (their finished signal may precede a waitSignal)."""
    qtbot.waitUntil(lambda: not qc.workers, timeout=timeout)


def build(qtbot, qc, fragment_l2=2):
    """Build the review list of the chosen neuron and wait for it."""
    qc.review_panel.fragment_l2.setValue(fragment_l2)
    worker = qc.build()
    assert worker is not None
    assert getattr(worker, "pbar", None) is None  # no napari progress bar: the dock says it builds
    assert "Building the worklist" in qc.review_panel.info.text()
    wait(qtbot, qc)
    qtbot.waitUntil(lambda: not qc.review.items.empty, timeout=5000)


def canvas(qc):
    return qc.session.viewer.window._qt_viewer.canvas.native


def keymap(viewer, key):
    from napari.utils.key_bindings import coerce_keybinding

    return viewer.keymap.get(coerce_keybinding(key))


def store():
    """The default verdict database (in the test's NAPARI_CRANT_DATA_DIR)."""
    return VerdictStore()


def count_slices(layers):
    """Count, per layer name, napari's slices of ``layers`` from now on."""
    counts = {}
    for layer in layers:
        state = layer._slicing_state
        plain = state.set_view_slice

        def counted(plain=plain, name=layer.name):
            counts[name] = counts.get(name, 0) + 1
            plain()

        state.set_view_slice = counted
    return counts


def em_ready(qtbot, qc, timeout=120_000):
    """Wait until the EM of the synapse shown is drawn; returns the tissue."""
    panel = qc.em_panel
    qtbot.waitUntil(lambda: panel.shown is not None
                    and panel.shown.synapse_id == int(qc.current_row()["synapse_id"]), timeout=timeout)
    return panel.shown
