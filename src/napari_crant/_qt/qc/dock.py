"""The synapse QC dock: the Review and Edits tabs and the EM panel around one review model, and the keys.

The dock composes :class:`~napari_crant._qt.qc.review_panel.ReviewPanel`,
:class:`~napari_crant._qt.qc.edits_panel.EditsPanel`, the canvas drawing
(:class:`~napari_crant._qt.qc.canvas.ReviewCanvas`), the EM at the synapse shown
(:class:`~napari_crant._qt.qc.em_panel.EMPanel`) and the keys
(:class:`~napari_crant._qt.qc.keys.ReviewKeys`) around a Qt-free
:class:`~napari_crant.qc.review.ReviewModel`, and tells the other docks which synapses were
rejected (:func:`~napari_crant._qt.qc_state.qc_state`).
"""

import contextlib
from typing import Any

import napari
import numpy as np
import pandas as pd
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from napari_crant._qt.elided_label import ElidedLabel
from napari_crant._qt.paint_once import barrier_layout
from napari_crant._qt.qc.canvas import ReviewCanvas
from napari_crant._qt.qc.edits_panel import EditsPanel
from napari_crant._qt.qc.em_panel import EMPanel
from napari_crant._qt.qc.keys import ReviewKeys
from napari_crant._qt.qc.review_panel import ReviewPanel
from napari_crant._qt.qc.workers import WorkerRunner, rejected_synapses
from napari_crant._qt.qc_state import qc_state
from napari_crant._qt.session import get_session
from napari_crant._qt.utils import fill_neuron_combo, is_alive
from napari_crant.qc.review import ReviewModel
from napari_crant.qc.verdicts import VERDICTS, VerdictError, VerdictStore


class QCWidget(QWidget):
    """Synapse quality control: review a neuron's synapses one by one and record verdicts.

    Parameters
    ----------
    napari_viewer
        Injected by napari.
    store
        The verdict database (default: :func:`~napari_crant.qc.verdicts.default_db_path`).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, store: VerdictStore | None = None):
        super().__init__()
        self.viewer = napari_viewer
        self.session = get_session(napari_viewer)
        self.state = qc_state(self.session)
        store_error = None
        if store is None:
            try:
                store = VerdictStore()
            except (VerdictError, OSError) as e:
                store_error = f"Verdicts cannot be stored: {e}"
        #: the review (worklist, chosen set, position, verdicts, undo)
        self.review = ReviewModel(store)
        self.runner = WorkerRunner(self, lambda m: self.set_message(m, error=True))
        #: roots loaded at another materialization than the session's (updated in place: live)
        self.root_materialization: dict[int, Any] = {}
        self._cleaned = False

        self.message = ElidedLabel("")
        self.review_panel = ReviewPanel(self.review, self.session, self.runner, self.set_message,
                                        self.root_materialization, store_error)
        self.edits_panel = EditsPanel(self.session, self.runner, self.set_message,
                                      self.review_panel.selected_root, self._on_replaced,
                                      self.root_materialization)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.review_panel, "Review")
        self.tabs.addTab(self.edits_panel, "Edits")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.setSpacing(2)
        outer.addWidget(self.tabs, 1)
        #: the EM and the partners' segments at the synapse shown (prefetched)
        self.em_panel = EMPanel(self.review, self.session, lambda m: self.set_message(m, error=True))
        outer.addWidget(self.em_panel)
        outer.addWidget(self.message)

        self.canvas = ReviewCanvas(self.review, self.session, self.runner,
                                   lambda: float(self.review_panel.field_of_view.value()),
                                   lambda m: self.set_message(m, error=True))
        from napari_crant._qt.qc.view_options import ViewOptions

        self.view_options = ViewOptions(self.review, self.session)  # after the canvas: it turns the camera
        outer.insertWidget(1, self.view_options)
        # a label's new text lays out the dock's rows, not napari's whole window (whose relayout
        # repaints it all in one more whole-window flush per key) unless the rows' size changed
        self.layout_barrier = barrier_layout(self)
        self.review.verdict_changed.connect(self._on_verdict)
        self.review_panel.files.imported.connect(self.refresh_rejected)
        self.session.changed.connect(self._on_scene_changed)
        self.keys = ReviewKeys(self.session.viewer, self, self.do, lambda: self.armed)
        self._on_scene_changed()
        if store_error:
            self.set_message(store_error, error=True)
        from qtpy.QtCore import QTimer

        from napari_crant._qt.fit_screen import fit_docks

        QTimer.singleShot(0, lambda: is_alive(self) and fit_docks(self))  # once docked

    # -- what other code and tests use -------------------------------------------------------
    @property
    def workers(self) -> set[Any]:
        """The running workers."""
        return self.runner.workers

    @property
    def armed(self) -> bool:
        """Whether a review list is shown (the review keys are active on the canvas)."""
        return not self.review.items.empty

    def build(self) -> Any:
        """Build the review list of the neuron chosen in the Review tab (worker)."""
        return self.review_panel.build()

    def set_verdict(self, verdict: str) -> bool:
        """Record ``verdict`` for the synapse shown; whether it was stored."""
        return self.review_panel.set_verdict(verdict)

    def export(self, path: Any) -> bool:
        """Write this dataset's verdicts to CSV or Parquet; whether it worked."""
        return self.review_panel.files.export(path)

    def import_file(self, path: Any) -> bool:
        """Import exported verdicts (all or none); whether it worked."""
        return self.review_panel.files.import_file(path)

    def check_now(self) -> Any:
        """Check whether the loaded roots are still current (worker)."""
        return self.edits_panel.check_now()

    def do(self, action: str) -> None:
        """Run a key action: ``'next'``, ``'previous'``, ``'toggle_unreviewed'``, ``'undo'``,
        ``'clear'``, ``'load_segment'`` (the segment clicked in the EM) or a verdict."""
        if not is_alive(self):
            return
        panel = self.review_panel
        if action == "next":
            panel.step(+1)
        elif action == "previous":
            panel.step(-1)
        elif action == "toggle_unreviewed":
            panel.unreviewed_only.setChecked(not panel.unreviewed_only.isChecked())
        elif action == "undo":
            panel.undo()
        elif action == "clear":
            panel.clear_verdict()
        elif action == "load_segment":
            self.em_panel.load_picked()
        elif action in VERDICTS:
            panel.set_verdict(action)

    def set_message(self, text: str, error: bool = False) -> None:
        """Show ``text`` at the bottom of the dock (red for errors)."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #ff6b6b;" if error else "")

    # -- shared state --------------------------------------------------------------------------
    def _on_verdict(self, index: int) -> None:
        row = self.review.items.iloc[index]
        self.state.update(row["synapse_id"], row["verdict"] if isinstance(row["verdict"], str) else None)

    def _on_scene_changed(self) -> None:
        if not is_alive(self):
            return
        scene = self.session.scene
        root = self.review.root
        fill_neuron_combo(self.review_panel.neuron, scene, keep=None if root is None else str(root))
        if not scene.neurons:
            self.review_panel.reset("Load a neuron, then build its review list.")
        self.refresh_rejected()

    def refresh_rejected(self) -> Any:
        """Reload which loaded synapses were rejected (for the partner table), in a worker."""
        scene = self.session.scene
        if self.review.store is None or not scene.neurons:
            self.state.set_rejected(())
            return None
        ids = scene.synapses()["synapse_id"].to_numpy(np.uint64)
        return self.runner.start(rejected_synapses, self.session.params.dataset, ids, self.review.store,
                                 returned=self.state.set_rejected, errored=lambda _m: None)

    def _on_replaced(self, old: int, new: int) -> None:
        if self.review.root != old:
            return
        edits = self.edits_panel
        edits.edit_status.setText(edits.edit_status.text() + " Rebuilding its review list…")
        idx = self.review_panel.neuron.findData(str(new))
        if idx >= 0:
            self.review_panel.neuron.setCurrentIndex(idx)
            self.build()

    def current_row(self) -> pd.Series | None:
        """The row of the synapse shown (or ``None``)."""
        return self.review.current_row()

    # -- closing -------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Stop the watchdog, remove the key bindings (restoring earlier ones). Idempotent."""
        if self._cleaned:
            return
        self._cleaned = True
        self.edits_panel.stop()
        self.keys.uninstall()
        for disconnect in (lambda: self.session.changed.disconnect(self._on_scene_changed),
                           lambda: self.review.verdict_changed.disconnect(self._on_verdict),
                           self.canvas.disconnect, self.review_panel.disconnect_review,
                           self.em_panel.disconnect):
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                disconnect()
        self.runner.quit_all()

    def closeEvent(self, event: Any) -> None:
        self.cleanup()
        super().closeEvent(event)

    def event(self, event: Any) -> bool:
        # napari's dock close button (remove_dock_widget) only un-parents the widget
        if (event.type() == QEvent.Type.ParentChange and self.parent() is None
                and not getattr(self, "_cleaned", True)):
            self.cleanup()
        return super().event(event)
