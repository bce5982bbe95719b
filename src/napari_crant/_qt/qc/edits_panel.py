"""The Edits tab of the QC dock: keep up with edits of the loaded neurons, and compare versions.

A watchdog checks every few minutes whether the loaded roots are still current; an edited
neuron can be diffed (synapses gained and lost, partner weights) and reloaded in place under
its new ID. *Compare partners* diffs a neuron's partners between two materializations.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.elided_label import ElidedLabel
from napari_crant._qt.qc.canvas import DIFF_COLORS, set_points
from napari_crant._qt.qc.workers import WorkerRunner, check_roots, edit_diff, load_neuron, version_diff
from napari_crant._qt.session import Session
from napari_crant._qt.table_model import DataFrameModel
from napari_crant.scene.neuron_data import id_strings

#: watchdog interval (ms)
WATCH_INTERVAL_MS = 5 * 60 * 1000


def parse_materialization(text: str) -> Any:
    """A version number, ``'live'``/``'latest'``, or ``'latest'`` when empty."""
    text = text.strip()
    return int(text) if text.isdigit() else (text or "latest")


def _table(model: DataFrameModel) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    return table


class EditsPanel(QWidget):
    """Edits of loaded neurons and version diffs.

    Parameters
    ----------
    session
        The viewer's session.
    runner
        Runs the checks and diffs.
    message
        Shows a line at the bottom of the dock: ``message(text, error)``.
    selected_root
        The neuron chosen in the Review tab (for *Compare partners*).
    replaced
        Called with ``(old, new)`` after an edited neuron was reloaded in place.
    root_materialization
        Filled with ``new -> 'live'`` for neurons updated in place.
    """

    def __init__(self, session: Session, runner: WorkerRunner, message: Callable[..., None],
                 selected_root: Callable[[], int | None], replaced: Callable[[int, int], None],
                 root_materialization: dict[int, Any]):
        super().__init__()
        self.session = session
        self.runner = runner
        self.message = message
        self.selected_root = selected_root
        self.replaced = replaced
        self.root_materialization = root_materialization
        #: outdated loaded roots found by the watchdog: old -> new
        self.outdated: dict[int, int] = {}
        self._notified: set[int] = set()
        self.last_edit_diff: dict[str, Any] | None = None
        self._build_ui()
        self.timer = QTimer(self)
        self.timer.setInterval(WATCH_INTERVAL_MS)
        self.timer.timeout.connect(self.check_now)
        self.watch.toggled.connect(lambda on: self.timer.start() if on else self.timer.stop())
        self.check_button.clicked.connect(self.check_now)
        self.update_button.clicked.connect(lambda: self.update_in_place())
        self.diff_button.clicked.connect(lambda: self.show_edit_diff())
        self.compare_button.clicked.connect(lambda: self.compare_versions())
        if self.watch.isChecked():
            self.timer.start()

    def _build_ui(self) -> None:
        self.watch = QCheckBox("check every 5 min")
        self.watch.setChecked(True)
        self.check_button = QPushButton("Check now")
        self.edit_status = ElidedLabel("Loaded neurons not checked yet.", lines=2)
        self.outdated_box = QComboBox()
        self.update_button = QPushButton("Update in place")
        self.update_button.setToolTip("reload the edited neuron under its new ID (verdicts follow)")
        self.diff_button = QPushButton("Show diff")
        self.update_button.setEnabled(False)
        self.diff_button.setEnabled(False)
        self.diff_summary = ElidedLabel("")
        self.diff_model = DataFrameModel(float_format="{:.0f}")
        self.diff_table = _table(self.diff_model)
        self.version_a = QLineEdit()
        self.version_a.setPlaceholderText("version A (e.g. 2)")
        self.version_b = QLineEdit("live")
        self.version_b.setPlaceholderText("version B or live")
        self.compare_button = QPushButton("Compare partners")
        self.version_model = DataFrameModel(float_format="{:.0f}")
        self.version_table = _table(self.version_model)
        self.version_summary = ElidedLabel("")

        lay = QVBoxLayout(self)
        watch_box = QGroupBox("Edits of loaded neurons")
        wl = QVBoxLayout(watch_box)
        row = QHBoxLayout()
        row.addWidget(self.watch)
        row.addWidget(self.check_button)
        wl.addLayout(row)
        wl.addWidget(self.edit_status)
        row = QHBoxLayout()
        row.addWidget(self.outdated_box, 1)
        row.addWidget(self.diff_button)
        row.addWidget(self.update_button)
        wl.addLayout(row)
        wl.addWidget(self.diff_summary)
        wl.addWidget(self.diff_table, 1)
        lay.addWidget(watch_box, 1)
        version_box = QGroupBox("Partners between two versions (neuron of the Review tab)")
        vl = QVBoxLayout(version_box)
        row = QHBoxLayout()
        row.addWidget(self.version_a)
        row.addWidget(self.version_b)
        row.addWidget(self.compare_button)
        vl.addLayout(row)
        vl.addWidget(self.version_summary)
        vl.addWidget(self.version_table, 1)
        lay.addWidget(version_box, 1)

    def stop(self) -> None:
        """Stop the watchdog."""
        self.timer.stop()

    # -- the watchdog ----------------------------------------------------------------------
    def check_now(self) -> Any:
        """Check whether the loaded roots are still current (worker); returns the worker."""
        roots = self.session.scene.root_ids
        if not len(roots):
            self.edit_status.setText("No neurons loaded.")
            return None
        running = self.runner.running("watch")
        if running is not None:
            return running
        self.edit_status.setText(f"Checking {len(roots)} neuron{'s' if len(roots) != 1 else ''}…")
        return self.runner.start(check_roots, roots, self.session.params.dataset, returned=self._on_checked,
                                 errored=lambda m: self.edit_status.setText(f"Check failed: {m}"),
                                 name="watch")

    def _on_checked(self, cc: pd.DataFrame) -> None:
        loaded = set(self.session.scene.neurons)
        stale = cc[~cc["current"].to_numpy(bool)]
        self.outdated = {int(o): int(n) for o, n in zip(stale["root_id"], stale["new_id"], strict=True)
                         if int(o) in loaded}
        now = pd.Timestamp.now().strftime("%H:%M")
        self.outdated_box.clear()
        for old, new in self.outdated.items():
            self.outdated_box.addItem(f"{old} → {new}", str(old))
        self.update_button.setEnabled(bool(self.outdated))
        self.diff_button.setEnabled(bool(self.outdated))
        if not self.outdated:
            self.edit_status.setText(f"All {len(cc)} loaded neurons are current (checked {now}).")
            return
        lines = [f"{old} was edited; it is now {new}." for old, new in self.outdated.items()]
        self.edit_status.setText("\n".join(lines) + f"\n(checked {now})")
        self.edit_status.setStyleSheet("color: #ffb347;")
        self.message(" ".join(lines) + " See the Edits tab.")
        fresh = [old for old in self.outdated if old not in self._notified]
        if fresh:
            self._notified.update(fresh)
            edited = " ".join(f"{o} was edited (now {self.outdated[o]})." for o in fresh)
            show_warning(f"napari-crant: {edited} Update it in the QC dock's Edits tab.")

    def _chosen_outdated(self, old: Any = None) -> tuple[int, int] | None:
        if old is None:
            data = self.outdated_box.currentData()
            old = int(data) if data is not None else None
        if old is None or int(old) not in self.outdated:
            self.message("No edited neuron to act on; press 'Check now'.", error=True)
            return None
        return int(old), self.outdated[int(old)]

    # -- diff and update -------------------------------------------------------------------
    def show_edit_diff(self, old: Any = None) -> Any:
        """Synapses gained / lost and partner changes of an edited neuron (worker)."""
        pair = self._chosen_outdated(old)
        if pair is None:
            return None
        self.diff_summary.setText(f"Comparing {pair[0]} with {pair[1]}…")
        return self.runner.start(edit_diff, pair[0], pair[1], self.session.params.dataset,
                                 int(self.session.params.threshold), returned=self._on_edit_diff,
                                 errored=lambda m: self.diff_summary.setText(f"Diff failed: {m}"),
                                 name="diff")

    def _on_edit_diff(self, result: dict[str, Any]) -> None:
        syn = result["synapses"]
        changed = syn[syn["status"].isin(["gained", "lost"])].reset_index(drop=True)
        data = changed[["z", "y", "x"]].to_numpy(np.float64)
        colors = np.array([DIFF_COLORS[s] for s in changed["status"]]).reshape(-1, 4)
        features = pd.DataFrame({
            "synapse_id": id_strings(changed["synapse_id"]), "status": changed["status"].to_numpy(object),
            "direction": changed["direction"].to_numpy(object),
            "partner_id": id_strings(changed["partner_id"]),
        })
        set_points(self.session.viewer, "qc_diff", data, features, colors, 900.0, symbol="diamond")
        n_gain = int((syn["status"] == "gained").sum())
        n_lost = int((syn["status"] == "lost").sum())
        n_kept = int((syn["status"] == "kept").sum())
        p = result["partners"]
        self.diff_model.set_frame(p[p["change"] != 0].reset_index(drop=True) if len(p) else p)
        self.diff_table.resizeColumnsToContents()
        self.diff_summary.setText(
            f"{result['old']} → {result['new']}: {n_gain} synapses gained (green), {n_lost} lost "
            f"(magenta), {n_kept} kept; {int((p['change'] != 0).sum()) if len(p) else 0} partner "
            "weights changed (table).")
        self.last_edit_diff = result

    def update_in_place(self, old: Any = None) -> Any:
        """Reload an edited neuron under its new ID (live), replacing the old one (worker)."""
        pair = self._chosen_outdated(old)
        if pair is None:
            return None
        old_id, new_id = pair
        kwargs = self.session.params.load_kwargs()
        kwargs["materialization"] = "live"
        self.edit_status.setText(f"Loading {new_id} (live) in place of {old_id}…")
        return self.runner.start(load_neuron, new_id, kwargs,
                                 returned=lambda r: self._replace_neuron(old_id, r),
                                 errored=lambda m: self.edit_status.setText(f"Update failed: {m}"),
                                 name="update")

    def _replace_neuron(self, old: int, result: Any) -> None:
        scene = self.session.scene
        if hasattr(scene, "remove"):
            scene.remove(old)
        else:
            scene.neurons.pop(int(old), None)
            if not scene.partners.empty:
                keep = scene.partners["neuron_id"].to_numpy(np.uint64) != np.uint64(old)
                scene.partners = scene.partners[keep].reset_index(drop=True)
        new = self.outdated.pop(int(old), None)
        if new is not None:
            self.root_materialization[int(new)] = "live"
        self.session.add(result)
        self.outdated_box.removeItem(max(self.outdated_box.findData(str(old)), 0))
        self.update_button.setEnabled(bool(self.outdated))
        self.diff_button.setEnabled(bool(self.outdated))
        self.edit_status.setStyleSheet("")
        self.edit_status.setText(f"{old} replaced by {new} (live).")
        show_info(f"napari-crant: {old} replaced by {new}")
        if new is not None:
            self.replaced(int(old), int(new))

    # -- version diff ----------------------------------------------------------------------
    def compare_versions(self, a: Any = None, b: Any = None) -> Any:
        """Partner weights of the Review tab's neuron between two materializations (worker)."""
        root = self.selected_root()
        if root is None:
            self.version_summary.setText("Load a neuron first.")
            return None
        a = parse_materialization(self.version_a.text()) if a is None else a
        b = parse_materialization(self.version_b.text()) if b is None else b
        self.version_summary.setText(f"Comparing partners of {root}: {a} vs {b}…")

        def done(df: pd.DataFrame) -> None:
            self.version_model.set_frame(df)
            self.version_table.resizeColumnsToContents()
            n = int((df["change"] != 0).sum()) if len(df) else 0
            self.version_summary.setText(f"{root}: {n} of {len(df)} partner weights differ ({a} → {b}).")

        return self.runner.start(version_diff, root, a, b, self.session.params.dataset,
                                 int(self.session.params.threshold), returned=done,
                                 errored=lambda m: self.version_summary.setText(f"Nothing compared: {m}"),
                                 name="version")
