"""The Review tab of the QC dock: choose a neuron and a set, step through it, give verdicts.

The panel renders a :class:`~napari_crant.qc.review.ReviewModel` (info text, progress, the
list) and forwards buttons, clicks and keys to it; the model writes verdicts to the store.
"""

from collections.abc import Callable
from typing import Any

import pandas as pd
from napari.utils.notifications import show_error
from qtpy.QtCore import QItemSelectionModel, Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.qc.canvas import VERDICT_COLORS
from napari_crant._qt.qc.table import ReviewTableModel
from napari_crant._qt.qc.verdict_files import VerdictFiles
from napari_crant._qt.qc.workers import WorkerRunner, build_review
from napari_crant._qt.session import Session
from napari_crant._qt.utils import is_alive, select_combo_data
from napari_crant.qc.review import ReviewError, ReviewModel
from napari_crant.qc.synapse_info import synapse_info_html
from napari_crant.qc.verdicts import VERDICTS, VerdictError, default_reviewer

#: review sets offered in the "review" box: key -> label
SETS = {
    "worklist": "all, likely errors first",
    "flagged": "flagged only (worklist)",
    "pre": "presynapses (outputs)",
    "post": "postsynapses (inputs)",
    "partner": "one partner",
}
#: verdict -> button text (with its key)
VERDICT_LABELS = {"correct": "1 correct", "false_positive": "2 false positive",
                  "wrong_partner": "3 wrong partner", "unsure": "4 unsure"}
#: rows the table reads to size its columns (once per worklist, never per verdict or step)
SIZE_SAMPLE_ROWS = 200
#: default width (nm) of the view around the synapse: the EM cutout (2,048 nm by default) with a
#: margin of the neurons around it, the tissue large enough on screen to judge a synapse
DEFAULT_VIEW_NM = 3000


class ReviewPanel(QWidget):
    """The review controls and list.

    Parameters
    ----------
    review
        The review model.
    session
        The viewer's session (loaded neurons, query parameters).
    runner
        Runs the worklist worker.
    message
        Shows a line at the bottom of the dock: ``message(text, error)``.
    root_materialization
        Roots loaded at another materialization than the session's (updated in place: live).
    store_error
        Why there is no verdict database (``None`` if there is one).
    """

    def __init__(self, review: ReviewModel, session: Session, runner: WorkerRunner,
                 message: Callable[..., None], root_materialization: dict[int, Any],
                 store_error: str | None = None):
        super().__init__()
        self.review = review
        self.session = session
        self.runner = runner
        self.message = message
        self.root_materialization = root_materialization
        self.store_error = store_error
        self._syncing = False
        self._build_ui()
        self._connect()

    def _build_ui(self) -> None:
        self.neuron = QComboBox()
        self.neuron.setToolTip("the loaded neuron to review")
        self.review_set = QComboBox()
        for key, label in SETS.items():
            self.review_set.addItem(label, key)
        self.partner = QComboBox()
        self.partner.setToolTip("whose synapses with this neuron to review ('one partner')")
        self.partner.setEnabled(False)
        self.max_distance = QDoubleSpinBox()
        self.max_distance.setRange(0, 1e7)
        self.max_distance.setSingleStep(500)
        self.max_distance.setValue(2000)
        self.max_distance.setSuffix(" nm")
        self.max_distance.setToolTip("flag synapses farther than this from the skeleton and outliers "
                                     "among the neuron's own (Q3 + 3 IQR)")
        self.fragment_l2 = QSpinBox()
        self.fragment_l2.setRange(1, 10_000)
        self.fragment_l2.setValue(25)
        self.fragment_l2.setToolTip("flag partners with fewer L2 chunks than this (small fragments)")
        self.build_button = QPushButton("Build list")
        self.build_button.setToolTip("compute the worklist and load stored verdicts")
        self.reviewer = QLineEdit(default_reviewer())
        self.reviewer.setToolTip("recorded with each verdict")
        self.unreviewed_only = QCheckBox("unreviewed only (u)")
        self.advance = QCheckBox("next after a verdict")
        self.advance.setChecked(True)
        self.field_of_view = QDoubleSpinBox()
        self.field_of_view.setRange(500, 1e6)
        self.field_of_view.setSingleStep(1000)
        self.field_of_view.setValue(DEFAULT_VIEW_NM)
        self.field_of_view.setSuffix(" nm")
        self.field_of_view.setToolTip("width of the view around the current synapse")

        self.info = QLabel("Load a neuron, then build its review list.")
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prev_button = QPushButton("◀ previous (p)")
        self.next_button = QPushButton("next (n) ▶")
        self.verdict_buttons = {v: QPushButton(VERDICT_LABELS[v]) for v in VERDICTS}
        for v, b in self.verdict_buttons.items():
            r, g, bl, _ = VERDICT_COLORS[v]
            b.setStyleSheet(f"border-left: 6px solid rgb({int(r * 255)},{int(g * 255)},{int(bl * 255)});")
        self.undo_button = QPushButton("undo (z)")
        self.undo_button.setToolTip("take back the last verdict change (Ctrl+Z or z)")
        self.clear_button = QPushButton("clear (c)")
        self.clear_button.setToolTip("make the synapse shown unreviewed again (kept in the history)")
        self.note = QLineEdit()
        self.note.setPlaceholderText("note (saved with the next verdict)…")
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        self._pending_timer = QTimer(self)
        self._pending_timer.setInterval(2000)
        self._pending_timer.timeout.connect(self._retry_pending)
        self.model = ReviewTableModel(self.review, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setResizeContentsPrecision(SIZE_SAMPLE_ROWS)
        self.files = VerdictFiles(self.review, self.message, self.store_error)

        form = QFormLayout()
        form.addRow("neuron", self.neuron)
        form.addRow("review", _row(self.review_set, self.partner))
        form.addRow("flags", _row(QLabel("far >"), self.max_distance, QLabel("fragment <"), self.fragment_l2,
                                  self.build_button))
        form.addRow("reviewer", _row(self.reviewer, QLabel("view"), self.field_of_view))
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.info)
        lay.addLayout(_row(self.prev_button, self.next_button))
        lay.addLayout(_row(*self.verdict_buttons.values()))
        lay.addLayout(_row(self.note, self.clear_button, self.undo_button))
        lay.addLayout(_row(self.unreviewed_only, self.advance))
        lay.addWidget(self.progress)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.files)

    def _connect(self) -> None:
        self.build_button.clicked.connect(self.build)
        self.neuron.activated.connect(lambda *_: self.build())
        self.review_set.currentIndexChanged.connect(self._on_set_changed)
        self.partner.activated.connect(lambda *_: self.apply_set())
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(+1))
        for v, b in self.verdict_buttons.items():
            b.clicked.connect(lambda *_, v=v: self.set_verdict(v))
        self.undo_button.clicked.connect(self.undo)
        self.clear_button.clicked.connect(self.clear_verdict)
        self.unreviewed_only.toggled.connect(self.review.set_unreviewed_only)
        self.table.clicked.connect(self._on_table_clicked)
        self.review.worklist_changed.connect(self._on_worklist)
        self.review.items_changed.connect(self._render_progress)
        self.review.verdict_changed.connect(self._on_verdict)
        self.review.position_changed.connect(self._on_position)
        self.session.model.selected_changed.connect(self.select_neuron)

    def disconnect_review(self) -> None:
        """Stop following the review model (the dock is closing)."""
        self.model.disconnect_review()
        self.review.worklist_changed.disconnect(self._on_worklist)
        self.review.items_changed.disconnect(self._render_progress)
        self.review.verdict_changed.disconnect(self._on_verdict)
        self.review.position_changed.disconnect(self._on_position)
        self.session.model.selected_changed.disconnect(self.select_neuron)

    # -- building the list -----------------------------------------------------------------
    def select_neuron(self, root: int | None) -> None:
        """Choose this neuron in the neuron box (selected on the canvas or in another dock)."""
        if is_alive(self) and root is not None:
            select_combo_data(self.neuron, root)

    def selected_root(self) -> int | None:
        """The root chosen in the neuron box."""
        data = self.neuron.currentData()
        return None if data is None else int(data)

    def build(self) -> Any:
        """Build the review list of the chosen neuron (worker); returns the worker or ``None``."""
        root = self.selected_root()
        if root is None:
            self.message("Load a neuron first (Query neurons dock).", error=True)
            return None
        if self.review.store is None:
            self.message(self.store_error or "No verdict database.", error=True)
            return None
        previous = self.runner.running("build")
        if previous is not None:
            previous.quit()
        p = self.session.params
        params = {"materialization": self.root_materialization.get(root, p.materialization),
                  "dataset": p.dataset, "max_distance": float(self.max_distance.value()),
                  "small_fragment_l2": int(self.fragment_l2.value())}
        self.info.setText(f"Building the worklist of {root}…")
        self.build_button.setEnabled(False)
        worker = self.runner.start(build_review, root, params, self.review.store, returned=self._on_built,
                                   errored=self._on_build_error, name="build")
        worker.finished.connect(lambda: is_alive(self) and self.build_button.setEnabled(True))
        return worker

    def _on_build_error(self, msg: str) -> None:
        self.info.setText("No review list.")
        self.message(f"Worklist failed: {msg}", error=True)

    def _on_built(self, result: dict[str, Any]) -> None:
        wl = result["worklist"]
        root = int(wl.attrs.get("root_id", result["root"]))
        counts = wl["partner_id"].value_counts()
        self.partner.blockSignals(True)
        self.partner.clear()
        for pid, n in counts.items():
            label = self.session.scene.label_of(int(pid)) if int(pid) else "unsegmented"
            text = f"{label} ({int(pid)})" if label != str(int(pid)) else str(int(pid))
            self.partner.addItem(f"{text}: {n} synapse{'s' if n != 1 else ''}", str(int(pid)))
        self.partner.blockSignals(False)
        n_flagged = int((wl["n_flags"] > 0).sum())
        n_rev = int(wl["verdict"].notna().sum())
        self.message(f"Worklist of {root}: {len(wl)} synapses, {n_flagged} flagged"
                     + (f"; {n_rev} reviewed before." if n_rev else "."))
        self.review.review_set = self.review_set.currentData()
        self.review.partner_id = self._partner_choice()
        mat = self.session.params.materialization
        mat = wl.attrs.get("materialization_version") or wl.attrs.get("materialization", mat)
        self.review.set_worklist(wl, result["dataset_name"], root, mat)

    def _partner_choice(self) -> int | None:
        data = self.partner.currentData()
        return int(data) if data else None

    def _on_set_changed(self) -> None:
        self.partner.setEnabled(self.review_set.currentData() == "partner")
        self.apply_set()

    def apply_set(self) -> None:
        """Review the rows the review box chooses; go to the first one."""
        if self.review.worklist.empty:
            self.review.review_set = self.review_set.currentData()
            return
        self.review.choose(self.review_set.currentData(), self._partner_choice())

    def reset(self, text: str) -> None:
        """No review list (e.g. every neuron was cleared)."""
        self.review.clear()
        self.info.setText(text)

    # -- stepping and verdicts -------------------------------------------------------------
    def step(self, delta: int) -> None:
        """Go to the next (``delta > 0``) or previous shown synapse."""
        if self.review.step(delta):
            return
        if not len(self.review.visible_rows()):
            self.message("Nothing left to review." if not self.review.items.empty
                         else "Build a review list first.")
        else:
            self.message("End of the list." if delta > 0 else "Start of the list.")

    def set_verdict(self, verdict: str) -> bool:
        """Record ``verdict`` for the synapse shown (committed before returning); whether it was stored."""
        try:
            self.review.give(verdict, note=self.note.text(), reviewer=self.reviewer.text(),
                             advance=self.advance.isChecked())
        except ReviewError as e:
            text = self.store_error if self.review.store is None and self.store_error else f"{e}."
            self.message(text[0].upper() + text[1:], error=True)
            return False
        except (VerdictError, OSError) as e:
            self.message(f"Verdict not saved: {e}", error=True)
            show_error(f"napari-crant: verdict not saved: {e}")
            return False
        return True

    def undo(self) -> bool:
        """Take back the last verdict change; whether there was one."""
        try:
            sid = self.review.undo()
        except ReviewError as e:
            self.message(f"Nothing undone: {e}.", error=True)
            return False
        except (VerdictError, OSError) as e:
            self.message(f"Not undone: {e}", error=True)
            return False
        self.message(f"Undone: synapse {sid} is back as it was.")
        return True

    def clear_verdict(self) -> bool:
        """Make the synapse shown unreviewed again; whether it had a verdict."""
        try:
            self.review.clear_verdict()
        except ReviewError as e:
            self.message(f"Nothing cleared: {e}.", error=True)
            return False
        except (VerdictError, OSError) as e:
            self.message(f"Not cleared: {e}", error=True)
            return False
        return True

    # -- rendering -------------------------------------------------------------------------
    def _on_worklist(self) -> None:
        if not self.review.worklist.empty:
            self.table.resizeColumnsToContents()

    def _on_verdict(self, index: int) -> None:
        row = self.review.items.iloc[index]
        verdict = row["verdict"]
        self.message(f"Saved: synapse {int(row['synapse_id'])} {verdict}." if isinstance(verdict, str)
                     else f"Cleared: synapse {int(row['synapse_id'])} is unreviewed.")
        self.note.clear()
        self._render_progress()

    def _render_progress(self) -> None:
        self.progress.setText(self.review.progress_text())
        if self.review.pending and not self._pending_timer.isActive():
            self._pending_timer.start()

    def _retry_pending(self) -> None:
        """Every 2 s while changes wait for a busy database: try to write them (never lost)."""
        if not self.review.pending:
            self._pending_timer.stop()
        self.review.retry_pending()
        self._render_progress()

    def _on_position(self, index: int | None) -> None:
        self._render_progress()
        if index is None:
            self.table.clearSelection()
            self.info.setText("Nothing to review in this set." if self.review.items.empty else
                              "All synapses of this set are reviewed.")
            return
        row = self.review.items.iloc[index]
        self._render_info(row)
        self._select_table_row(index)
        self.note.setText(row["note"] if isinstance(row.get("note"), str) else "")

    def _render_info(self, row: pd.Series) -> None:
        pid = int(row["partner_id"])
        label = self.session.scene.label_of(pid) if pid else ""
        self.info.setText(synapse_info_html(row, self.review.position_text(), label))

    def _select_table_row(self, index: int) -> None:
        r = self.model.position_of(index)
        if r is None:
            self.table.clearSelection()
            return
        self._syncing = True
        try:
            self.table.selectionModel().select(
                self.model.index(r, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self.table.scrollTo(self.model.index(r, 0))
        finally:
            self._syncing = False

    def _on_table_clicked(self, index: Any) -> None:
        item = self.model.item_at(index.row())
        if not self._syncing and item is not None:
            self.review.go_to(item)


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    return row
