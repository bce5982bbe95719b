"""The synapse QC dock: step through a neuron's synapses, give verdicts, keep up with edits.

Keys (when the canvas or this dock has focus, once a review list is built)::

    n / p      next / previous synapse
    1 2 3 4    correct / false positive / wrong partner / unsure (then next)
    u          show unreviewed synapses only (toggle)

The canvas keys are caught by an event filter before napari's layer shortcuts (on a Points
layer ``1`` would otherwise delete the selected points); they are also bound on the viewer
keymap (``viewer.keymap['N'](viewer)``) and restored when the dock is closed.
"""

import contextlib
import html
from typing import Any

import napari
import numpy as np
import pandas as pd
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QItemSelectionModel, QObject, Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.qc_state import qc_state
from napari_crant._qt.session import find_layer, get_session
from napari_crant._qt.table_model import DataFrameModel
from napari_crant._qt.utils import fill_neuron_combo, is_alive
from napari_crant.qc.verdicts import VERDICTS, VerdictError, VerdictStore, default_reviewer
from napari_crant.view.layer_data import AXES, METADATA_KEY, SCALE, UNITS, id_strings, skeleton_vectors

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
#: RGBA of synapse points by verdict (None: not reviewed yet)
VERDICT_COLORS = {
    None: (0.65, 0.65, 0.65, 0.6),
    "correct": (0.2, 0.85, 0.3, 1.0),
    "false_positive": (0.95, 0.2, 0.2, 1.0),
    "wrong_partner": (1.0, 0.6, 0.1, 1.0),
    "unsure": (0.7, 0.45, 1.0, 1.0),
}
DIFF_COLORS = {"gained": (0.2, 0.9, 0.3, 1.0), "lost": (1.0, 0.1, 0.8, 1.0)}
#: layer kind (metadata value) -> layer name; the session's Clear removes them with the others
QC_LAYERS = {
    "qc_verdicts": "CRANT QC verdicts",
    "qc_current": "CRANT QC current",
    "qc_partner": "CRANT QC partner",
    "qc_diff": "CRANT QC edit diff",
}
#: watchdog interval (ms)
WATCH_INTERVAL_MS = 5 * 60 * 1000
_KEY_ACTIONS = {Qt.Key.Key_N: "next", Qt.Key.Key_P: "previous", Qt.Key.Key_U: "toggle_unreviewed",
                Qt.Key.Key_1: VERDICTS[0], Qt.Key.Key_2: VERDICTS[1], Qt.Key.Key_3: VERDICTS[2],
                Qt.Key.Key_4: VERDICTS[3]}
_VIEWER_KEYS = {"N": "next", "P": "previous", "U": "toggle_unreviewed", "1": VERDICTS[0],
                "2": VERDICTS[1], "3": VERDICTS[2], "4": VERDICTS[3]}


# ------------------------------------------------------------------------------------------
# worker functions (no Qt, no layers)
# ------------------------------------------------------------------------------------------


def _dataset_name(dataset: Any) -> str:
    from napari_crant.datasets import get_source

    return str(get_source(dataset).name)


def _build_worker(root: int, params: dict[str, Any], store: VerdictStore) -> dict[str, Any]:
    """Worklist of ``root`` plus its stored verdicts (worker thread)."""
    from napari_crant.qc.worklist import build_worklist

    wl = build_worklist(root, materialization=params["materialization"],
                        max_distance=params["max_distance"], small_fragment_l2=params["small_fragment_l2"],
                        dataset=params["dataset"])
    name = _dataset_name(params["dataset"])
    got = store.for_synapses(name, wl)
    for c in got.columns:
        wl[c] = got[c].to_numpy(object)
    return {"worklist": wl, "dataset_name": name, "root": root}


def _rejected_worker(dataset: Any, synapse_ids: np.ndarray, store: VerdictStore) -> set[int]:
    """Synapse IDs among ``synapse_ids`` marked false positive / wrong partner (worker thread)."""
    from napari_crant._qt.qc_state import REJECTED

    v = store.verdicts(_dataset_name(dataset))
    if v.empty:
        return set()
    v = v[v["verdict"].isin(REJECTED)]
    ids = {int(s) for s in v["synapse_id"]}
    return ids & {int(s) for s in synapse_ids}


def _skeleton_worker(partner: int, dataset: Any) -> tuple[int, np.ndarray]:
    """Skeleton vectors of a partner (worker thread)."""
    import napari_crant as nc

    sk = nc.get_l2_skeleton(int(partner), dataset=dataset)
    return int(partner), skeleton_vectors(sk.nodes)


def _check_worker(roots: np.ndarray, dataset: Any) -> pd.DataFrame:
    from napari_crant.qc.edits import check_current

    return check_current(roots, dataset=dataset)


def _edit_diff_worker(old: int, new: int, dataset: Any, threshold: int) -> dict[str, Any]:
    """Synapses gained / lost by an edit and the partner changes (worker thread)."""
    from napari_crant.qc.edits import partner_diff, synapse_diff

    syn = synapse_diff(old, new, dataset=dataset)
    created = pd.Timestamp(syn.attrs["old_created"])
    partners = partner_diff(old, created, "live", threshold=threshold, dataset=dataset)
    return {"old": old, "new": new, "synapses": syn, "partners": partners}


def _version_diff_worker(root: int, a: Any, b: Any, dataset: Any, threshold: int) -> pd.DataFrame:
    from napari_crant.qc.edits import partner_diff

    return partner_diff(root, a, b, threshold=threshold, dataset=dataset)


def _update_worker(new: int, kwargs: dict[str, Any]) -> Any:
    from napari_crant.view.loading import load_neurons, run_to_end

    return run_to_end(load_neurons([int(new)], **kwargs))


def _materialization(text: str) -> Any:
    text = text.strip()
    return int(text) if text.isdigit() else (text or "latest")


def qc_layer_kwargs(kind: str, **extra: Any) -> dict[str, Any]:
    """Keyword arguments of a QC layer (same axes, units and metadata scheme as the others)."""
    return {"name": QC_LAYERS[kind], "scale": SCALE, "units": UNITS, "axis_labels": AXES,
            "metadata": {METADATA_KEY: kind}, "projection_mode": "all", **extra}


class _KeyFilter(QObject):
    """Catches the review keys on the canvas (before napari's layer shortcuts) while a list is shown."""

    def __init__(self, widget: "QCWidget"):
        super().__init__()
        self._widget = widget

    def eventFilter(self, obj: Any, event: Any) -> bool:
        etype = event.type()
        if etype not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        w = self._widget
        if not is_alive(w) or not w.armed:
            return False
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        action = _KEY_ACTIONS.get(Qt.Key(event.key())) if mods == Qt.KeyboardModifier.NoModifier else None
        if action is None:
            return False
        if etype == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        if not event.isAutoRepeat() or action in ("next", "previous"):
            w.do(action)
        return True


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
        self.store = store
        self._store_error: str | None = None
        if self.store is None:
            try:
                self.store = VerdictStore()
            except (VerdictError, OSError) as e:
                self._store_error = f"Verdicts cannot be stored: {e}"
        #: the full worklist of the neuron under review (with verdict columns)
        self.worklist = pd.DataFrame()
        #: the chosen set of synapses (worklist rows, in review order)
        self.items = pd.DataFrame()
        self.dataset_name = ""
        self.root: int | None = None
        #: index (into :attr:`items`) of the synapse shown, or ``None``
        self.current: int | None = None
        self.workers: set[Any] = set()
        self.build_worker: Any = None
        self.watch_worker: Any = None
        self.diff_worker: Any = None
        self.version_worker: Any = None
        self.update_worker: Any = None
        #: outdated loaded roots found by the watchdog: old -> new
        self.outdated: dict[int, int] = {}
        self._notified: set[int] = set()
        self._skeletons: dict[int, np.ndarray] = {}
        #: roots loaded at another materialization than the session's (updated in place: live)
        self.root_materialization: dict[int, Any] = {}
        self._syncing = False
        self._cleaned = False
        self._build_ui()
        self._connect()
        self._install_keys()
        self.timer = QTimer(self)
        self.timer.setInterval(WATCH_INTERVAL_MS)
        self.timer.timeout.connect(self.check_now)
        if self.watch.isChecked():
            self.timer.start()
        self._on_scene_changed()
        if self._store_error:
            self.set_message(self._store_error, error=True)

    # ------------------------------------------------------------------------------------
    # layout
    # ------------------------------------------------------------------------------------
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
        self.max_distance.setToolTip("flag synapses farther than this from the skeleton")
        self.fragment_l2 = QSpinBox()
        self.fragment_l2.setRange(1, 10_000)
        self.fragment_l2.setValue(10)
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
        self.field_of_view.setValue(8000)
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
        self.note = QLineEdit()
        self.note.setPlaceholderText("note (saved with the next verdict)…")
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        self.model = DataFrameModel(float_format="{:.0f}")
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("all verdicts of this dataset to CSV or Parquet")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("verdicts exported by napari-crant (all or nothing)")
        self.message = QLabel("")
        self.message.setWordWrap(True)

        review = QWidget()
        form = QFormLayout()
        form.addRow("neuron", self.neuron)
        row = QHBoxLayout()
        row.addWidget(self.review_set, 2)
        row.addWidget(self.partner, 2)
        form.addRow("review", row)
        row = QHBoxLayout()
        row.addWidget(QLabel("far >"))
        row.addWidget(self.max_distance)
        row.addWidget(QLabel("fragment <"))
        row.addWidget(self.fragment_l2)
        row.addWidget(self.build_button)
        form.addRow("flags", row)
        row = QHBoxLayout()
        row.addWidget(self.reviewer, 1)
        row.addWidget(QLabel("view"))
        row.addWidget(self.field_of_view)
        form.addRow("reviewer", row)
        lay = QVBoxLayout(review)
        lay.addLayout(form)
        lay.addWidget(self.info)
        nav = QHBoxLayout()
        nav.addWidget(self.prev_button)
        nav.addWidget(self.next_button)
        lay.addLayout(nav)
        verdicts = QHBoxLayout()
        for b in self.verdict_buttons.values():
            verdicts.addWidget(b)
        lay.addLayout(verdicts)
        lay.addWidget(self.note)
        opts = QHBoxLayout()
        opts.addWidget(self.unreviewed_only)
        opts.addWidget(self.advance)
        lay.addLayout(opts)
        lay.addWidget(self.progress)
        lay.addWidget(self.table, 1)
        io = QHBoxLayout()
        io.addWidget(self.export_button)
        io.addWidget(self.import_button)
        lay.addLayout(io)

        # -- edits tab ------------------------------------------------------------------
        edits = QWidget()
        self.watch = QCheckBox("check every 5 min")
        self.watch.setChecked(True)
        self.check_button = QPushButton("Check now")
        self.edit_status = QLabel("Loaded neurons not checked yet.")
        self.edit_status.setWordWrap(True)
        self.outdated_box = QComboBox()
        self.update_button = QPushButton("Update in place")
        self.update_button.setToolTip("reload the edited neuron under its new ID (verdicts follow)")
        self.diff_button = QPushButton("Show diff")
        self.update_button.setEnabled(False)
        self.diff_button.setEnabled(False)
        self.diff_summary = QLabel("")
        self.diff_summary.setWordWrap(True)
        self.diff_model = DataFrameModel(float_format="{:.0f}")
        self.diff_table = QTableView()
        self.diff_table.setModel(self.diff_model)
        self.diff_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.diff_table.verticalHeader().setVisible(False)
        self.version_a = QLineEdit()
        self.version_a.setPlaceholderText("version A (e.g. 2)")
        self.version_b = QLineEdit("live")
        self.version_b.setPlaceholderText("version B or live")
        self.compare_button = QPushButton("Compare partners")
        self.version_model = DataFrameModel(float_format="{:.0f}")
        self.version_table = QTableView()
        self.version_table.setModel(self.version_model)
        self.version_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.version_table.verticalHeader().setVisible(False)
        self.version_summary = QLabel("")
        self.version_summary.setWordWrap(True)

        lay = QVBoxLayout(edits)
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

        self.tabs = QTabWidget()
        self.tabs.addTab(review, "Review")
        self.tabs.addTab(edits, "Edits")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addWidget(self.tabs, 1)
        outer.addWidget(self.message)

    def _connect(self) -> None:
        self.build_button.clicked.connect(self.build)
        self.neuron.activated.connect(lambda *_: self.build())
        self.review_set.currentIndexChanged.connect(self._on_set_changed)
        self.partner.activated.connect(lambda *_: self.apply_set())
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        for v, b in self.verdict_buttons.items():
            b.clicked.connect(lambda *_, v=v: self.set_verdict(v))
        self.unreviewed_only.toggled.connect(self._on_filter_toggled)
        self.table.clicked.connect(self._on_table_clicked)
        self.export_button.clicked.connect(self._on_export)
        self.import_button.clicked.connect(self._on_import)
        self.watch.toggled.connect(self._on_watch_toggled)
        self.check_button.clicked.connect(self.check_now)
        self.update_button.clicked.connect(lambda: self.update_in_place())
        self.diff_button.clicked.connect(lambda: self.show_edit_diff())
        self.compare_button.clicked.connect(lambda: self.compare_versions())
        self.session.changed.connect(self._on_scene_changed)

    # ------------------------------------------------------------------------------------
    # keys
    # ------------------------------------------------------------------------------------
    def _install_keys(self) -> None:
        self._key_filter = _KeyFilter(self)
        self._canvas = None
        viewer = self.session.viewer
        try:
            self._canvas = viewer.window._qt_viewer.canvas.native
            self._canvas.installEventFilter(self._key_filter)
        except (AttributeError, RuntimeError):  # headless viewer model: no canvas
            self._canvas = None
        self._previous_keys: dict[str, Any] = {}
        if viewer is not None and hasattr(viewer, "bind_key"):
            for key, action in _VIEWER_KEYS.items():
                def cb(_viewer: Any, action: str = action) -> None:
                    if is_alive(self):
                        self.do(action)
                self._previous_keys[key] = viewer.bind_key(key, cb, overwrite=True)
        # the dock: every child except text fields (typing a note must not give verdicts)
        for child in [self, *self.findChildren(QWidget)]:
            if not isinstance(child, QLineEdit | QAbstractSpinBox):
                child.installEventFilter(self._key_filter)

    @property
    def armed(self) -> bool:
        """Whether a review list is shown (the review keys are active on the canvas)."""
        return not self.items.empty

    def do(self, action: str) -> None:
        """Run a key action: ``'next'``, ``'previous'``, ``'toggle_unreviewed'`` or a verdict."""
        if action == "next":
            self.next()
        elif action == "previous":
            self.previous()
        elif action == "toggle_unreviewed":
            self.unreviewed_only.setChecked(not self.unreviewed_only.isChecked())
        elif action in VERDICTS:
            self.set_verdict(action)

    def cleanup(self) -> None:
        """Stop the watchdog, remove the key bindings (restoring earlier ones). Idempotent."""
        if self._cleaned:
            return
        self._cleaned = True
        self.timer.stop()
        if self._canvas is not None:
            with contextlib.suppress(RuntimeError):
                self._canvas.removeEventFilter(self._key_filter)
        viewer = self.session.viewer
        if viewer is not None:
            for key, prev in self._previous_keys.items():
                viewer.bind_key(key, prev, overwrite=True)
        self._previous_keys = {}
        with contextlib.suppress(TypeError, ValueError, RuntimeError):
            self.session.changed.disconnect(self._on_scene_changed)
        for w in list(self.workers):
            w.quit()

    def closeEvent(self, event: Any) -> None:
        self.cleanup()
        super().closeEvent(event)

    def event(self, event: Any) -> bool:
        # napari's dock close button (remove_dock_widget) only un-parents the widget
        if (event.type() == QEvent.Type.ParentChange and self.parent() is None
                and not getattr(self, "_cleaned", True)):
            self.cleanup()
        return super().event(event)

    # ------------------------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------------------------
    def set_message(self, text: str, error: bool = False) -> None:
        """Show ``text`` at the bottom of the dock (red for errors)."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #ff6b6b;" if error else "")

    def _track(self, worker: Any) -> None:
        self.workers.add(worker)
        worker.finished.connect(lambda: self.workers.discard(worker))

    def _start(self, func: Any, *args: Any, returned: Any, errored: Any = None, attr: str | None = None,
               progress: str | None = None, **kwargs: Any) -> Any:
        kw: dict[str, Any] = {"_start_thread": False, "_ignore_errors": True}
        if progress:
            kw["_progress"] = {"desc": progress}
        worker = create_worker(func, *args, **kwargs, **kw)

        def on_returned(value: Any) -> None:
            if is_alive(self):
                returned(value)

        def on_error(exc: BaseException) -> None:
            if not is_alive(self):
                return
            msg = str(exc) or type(exc).__name__
            if errored is not None:
                errored(msg)
            else:
                self.set_message(msg, error=True)

        worker.returned.connect(on_returned)
        worker.errored.connect(on_error)
        if attr is not None:
            setattr(self, attr, worker)

            def clear() -> None:
                if is_alive(self) and getattr(self, attr) is worker:
                    setattr(self, attr, None)

            worker.finished.connect(clear)
        self._track(worker)
        worker.start()
        return worker

    def _viewer(self) -> Any:
        return self.session.viewer

    def _set_points(self, kind: str, data: np.ndarray, features: pd.DataFrame, colors: np.ndarray,
                    size: float, **extra: Any) -> Any:
        """Add or update a QC Points layer (main thread)."""
        viewer = self._viewer()
        if viewer is None:
            return None
        layer = find_layer(viewer, kind)
        data = np.asarray(data, np.float64).reshape(-1, 3)
        if layer is None:
            kw = qc_layer_kwargs(kind, features=features, size=size, border_width=0.0, **extra)
            if len(data):
                kw["face_color"] = colors
            return viewer.add_points(data, **kw)
        layer.data = data
        layer.features = features
        if len(data):
            layer.face_color = colors
        layer.size = size
        return layer

    # ------------------------------------------------------------------------------------
    # neurons and review lists
    # ------------------------------------------------------------------------------------
    def _on_scene_changed(self) -> None:
        if not is_alive(self):
            return
        scene = self.session.scene
        fill_neuron_combo(self.neuron, scene, keep=None if self.root is None else str(self.root))
        if not scene.neurons:
            self._reset_review("Load a neuron, then build its review list.")
        self.refresh_rejected()

    def _reset_review(self, text: str) -> None:
        self.worklist = pd.DataFrame()
        self.items = pd.DataFrame()
        self.current = None
        self.root = None
        self.model.set_frame(pd.DataFrame())
        self.info.setText(text)
        self.progress.setText("")

    def refresh_rejected(self) -> Any:
        """Reload which loaded synapses were rejected (for the partner table), in a worker."""
        scene = self.session.scene
        if self.store is None or not scene.neurons:
            self.state.set_rejected(())
            return None
        ids = scene.synapses()["synapse_id"].to_numpy(np.uint64)
        return self._start(_rejected_worker, self.session.params.dataset, ids, self.store,
                           returned=self.state.set_rejected, errored=lambda _m: None)

    def selected_root(self) -> int | None:
        """The root chosen in the neuron box."""
        data = self.neuron.currentData()
        return None if data is None else int(data)

    def build(self) -> Any:
        """Build the review list of the chosen neuron (worker); returns the worker or ``None``."""
        root = self.selected_root()
        if root is None:
            self.set_message("Load a neuron first (Query neurons dock).", error=True)
            return None
        if self.store is None:
            self.set_message(self._store_error or "No verdict database.", error=True)
            return None
        if self.build_worker is not None:
            self.build_worker.quit()
        p = self.session.params
        params = {"materialization": self.root_materialization.get(root, p.materialization),
                  "dataset": p.dataset,
                  "max_distance": float(self.max_distance.value()),
                  "small_fragment_l2": int(self.fragment_l2.value())}
        self.info.setText(f"Building the worklist of {root}…")
        self.build_button.setEnabled(False)
        worker = self._start(_build_worker, root, params, self.store, returned=self._on_built,
                             errored=self._on_build_error, attr="build_worker",
                             progress="CRANT QC worklist")
        worker.finished.connect(lambda: is_alive(self) and self.build_button.setEnabled(True))
        return worker

    def _on_build_error(self, msg: str) -> None:
        self.info.setText("No review list.")
        self.set_message(f"Worklist failed: {msg}", error=True)

    def _on_built(self, result: dict[str, Any]) -> None:
        wl = result["worklist"]
        self.worklist = wl
        self.dataset_name = result["dataset_name"]
        self.root = int(wl.attrs.get("root_id", result["root"]))
        self._skeletons.clear()
        counts = wl["partner_id"].value_counts()
        self.partner.blockSignals(True)
        self.partner.clear()
        for pid, n in counts.items():
            label = self.session.scene.label_of(int(pid)) if int(pid) else "unsegmented"
            text = f"{label} ({int(pid)})" if label != str(int(pid)) else str(int(pid))
            self.partner.addItem(f"{text}: {n} synapse{'s' if n != 1 else ''}", str(int(pid)))
        self.partner.blockSignals(False)
        n_rev = int(wl["verdict"].notna().sum())
        self.set_message(f"Worklist of {self.root}: {len(wl)} synapses, {int((wl['n_flags'] > 0).sum())} "
                         f"flagged; {n_rev} reviewed before." if n_rev else
                         f"Worklist of {self.root}: {len(wl)} synapses, "
                         f"{int((wl['n_flags'] > 0).sum())} flagged.")
        self.apply_set(resume=True)

    def _on_set_changed(self) -> None:
        self.partner.setEnabled(self.review_set.currentData() == "partner")
        self.apply_set()

    def apply_set(self, resume: bool = False) -> None:
        """Choose the rows of the worklist to review, per the review box; go to the first one."""
        if self.worklist.empty:
            self._reset_review("No synapses to review." if self.root is not None
                               else "Load a neuron, then build its review list.")
            return
        wl = self.worklist
        key = self.review_set.currentData()
        if key == "flagged":
            wl = wl[wl["n_flags"].to_numpy() > 0]
        elif key in ("pre", "post"):
            wl = wl[wl["type"].to_numpy() == key]
        elif key == "partner":
            pid = self.partner.currentData()
            wl = wl[wl["partner_id"].to_numpy(np.uint64) == np.uint64(int(pid))] if pid else wl.iloc[:0]
        self.items = wl.reset_index(drop=True)
        self.current = None
        self._refresh_table()
        self._refresh_verdict_layer()
        first = self._first_unreviewed() if resume else None
        visible = self.visible_rows()
        self.go_to(first if first is not None else (visible[0] if visible else None))

    def _first_unreviewed(self) -> int | None:
        todo = np.flatnonzero(self.items["verdict"].isna().to_numpy()) if len(self.items) else []
        return int(todo[0]) if len(todo) else None

    def visible_rows(self) -> list[int]:
        """Indices of :attr:`items` shown (all, or the unreviewed ones)."""
        if self.items.empty:
            return []
        if self.unreviewed_only.isChecked():
            return [int(i) for i in np.flatnonzero(self.items["verdict"].isna().to_numpy())]
        return list(range(len(self.items)))

    # ------------------------------------------------------------------------------------
    # stepping
    # ------------------------------------------------------------------------------------
    def next(self) -> None:
        """Go to the next synapse (of the shown ones)."""
        self._step(+1)

    def previous(self) -> None:
        """Go to the previous synapse (of the shown ones)."""
        self._step(-1)

    def _step(self, d: int) -> None:
        rows = self.visible_rows()
        if not rows:
            self.set_message("Nothing left to review." if self.armed else "Build a review list first.")
            return
        cur = self.current
        if cur is None:
            target = rows[0] if d > 0 else rows[-1]
        elif d > 0:
            later = [r for r in rows if r > cur]
            target = later[0] if later else None
        else:
            earlier = [r for r in rows if r < cur]
            target = earlier[-1] if earlier else None
        if target is None:
            self.set_message("End of the list." if d > 0 else "Start of the list.")
            return
        self.go_to(target)

    def go_to(self, index: int | None) -> None:
        """Show synapse ``index`` of :attr:`items`: centre the camera, highlight it, show its partner."""
        self.current = index
        if index is None:
            self.info.setText("Nothing to review in this set." if self.items.empty else
                              "All synapses of this set are reviewed.")
            self._set_points("qc_current", np.zeros((0, 3)), pd.DataFrame({"synapse_id": []}),
                             np.zeros((0, 4)), 1200.0)
            self._refresh_progress()
            return
        row = self.items.iloc[index]
        zyx = np.array([row["z"], row["y"], row["x"]], np.float64)
        self._show_info(row)
        self._select_table_row(index)
        feats = pd.DataFrame({"synapse_id": id_strings([row["synapse_id"]])})
        self._set_points("qc_current", zyx[None], feats, np.array([[1.0, 1.0, 0.0, 0.35]]), 1400.0,
                         blending="translucent_no_depth")
        layer = find_layer(self._viewer(), "qc_current")
        if layer is not None:
            layer.border_color = "yellow"
            layer.border_width = 0.15
        self.center_on(zyx)
        self.note.setText(row["note"] if isinstance(row.get("note"), str) else "")
        self._show_partner(int(row["partner_id"]))
        self._refresh_progress()

    def center_on(self, zyx: np.ndarray) -> None:
        """Centre the camera on a (z, y, x) nm position and zoom to the field of view."""
        viewer = self._viewer()
        if viewer is None:
            return
        cam = viewer.scene.camera if hasattr(getattr(viewer, "scene", None), "camera") else viewer.camera
        ndim = viewer.dims.ndim
        if ndim >= 3:
            point = list(viewer.dims.point)
            point[ndim - 3] = float(zyx[0])
            viewer.dims.point = tuple(point)
        cam.center = tuple(float(v) for v in zyx)
        width = 600.0
        try:
            size = viewer.window._qt_viewer.canvas.native.size()
            width = float(max(min(size.width(), size.height()), 100))
        except (AttributeError, RuntimeError):
            pass
        cam.zoom = width / float(self.field_of_view.value())

    def _show_info(self, row: pd.Series) -> None:
        pid = int(row["partner_id"])
        partner = "unsegmented (0)" if pid == 0 else f"{self.session.scene.label_of(pid)}"
        if pid and partner != str(pid):
            partner += f" ({pid})"
        kind = "output (pre)" if row["type"] == "pre" else "input (post)"
        verdict = row["verdict"] if isinstance(row["verdict"], str) else "not reviewed"
        if isinstance(row["verdict"], str) and isinstance(row.get("reviewer"), str):
            verdict += f" by {row['reviewer']} at {str(row['reviewed_at'])[:19]}"
        flags = html.escape(row["reason"]) if row["reason"] else "none"
        partner, verdict = html.escape(partner), html.escape(verdict)
        pos = self.visible_rows()
        k = pos.index(self.current) + 1 if self.current in pos else "–"
        self.info.setText(
            f"<b>synapse {int(row['synapse_id'])}</b> ({k} of {len(pos)} shown)<br>"
            f"{kind}, partner <b>{partner}</b><br>"
            f"size {int(row['size'])}, {float(row['distance']):,.0f} nm from the skeleton<br>"
            f"flags: <span style='color:#ffb347'>{flags}</span><br>verdict: <b>{verdict}</b>")

    def _select_table_row(self, index: int) -> None:
        rows = self.visible_rows()
        if index not in rows:
            self.table.clearSelection()
            return
        r = rows.index(index)
        self._syncing = True
        try:
            sel = self.table.selectionModel()
            sel.select(self.model.index(r, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                       | QItemSelectionModel.SelectionFlag.Rows)
            self.table.scrollTo(self.model.index(r, 0))
        finally:
            self._syncing = False

    def _on_table_clicked(self, index: Any) -> None:
        rows = self.visible_rows()
        if not self._syncing and 0 <= index.row() < len(rows):
            self.go_to(rows[index.row()])

    def _on_filter_toggled(self) -> None:
        self._refresh_table()
        rows = self.visible_rows()
        if self.current in rows:
            self.go_to(self.current)
        elif rows:
            later = [r for r in rows if self.current is None or r > self.current]
            self.go_to(later[0] if later else rows[0])
        else:
            self.go_to(None)

    def _show_partner(self, partner: int) -> None:
        viewer = self._viewer()
        if viewer is None:
            return
        if partner == 0 or partner == self.root:
            self._set_partner_vectors(np.zeros((0, 2, 3)), partner)
            return
        if partner in self.session.scene.neurons:
            self._set_partner_vectors(self.session.scene.neurons[partner].edges, partner)
            return
        if partner in self._skeletons:
            self._set_partner_vectors(self._skeletons[partner], partner)
            return

        def done(result: tuple[int, np.ndarray]) -> None:
            pid, vectors = result
            self._skeletons[pid] = vectors
            cur = self.current_row()
            if cur is not None and int(cur["partner_id"]) == pid:
                self._set_partner_vectors(vectors, pid)

        self._start(_skeleton_worker, partner, self.session.params.dataset, returned=done,
                    errored=lambda m: self.set_message(f"partner skeleton: {m}", error=True))

    def _set_partner_vectors(self, vectors: np.ndarray, partner: int) -> None:
        viewer = self._viewer()
        layer = find_layer(viewer, "qc_partner")
        vectors = np.asarray(vectors, np.float64).reshape(-1, 2, 3)
        features = pd.DataFrame({"root_id": np.full(len(vectors), str(partner), dtype=object)})
        if layer is None:
            viewer.add_vectors(vectors, **qc_layer_kwargs(
                "qc_partner", features=features, edge_color="magenta", vector_style="line",
                edge_width=250.0, opacity=0.8))
        else:
            layer.data = vectors
            layer.features = features

    def current_row(self) -> pd.Series | None:
        """The worklist row of the synapse shown (or ``None``)."""
        if self.current is None or self.items.empty:
            return None
        return self.items.iloc[self.current]

    # ------------------------------------------------------------------------------------
    # verdicts
    # ------------------------------------------------------------------------------------
    def set_verdict(self, verdict: str) -> bool:
        """Record ``verdict`` for the current synapse (committed to the DB before returning).

        Returns
        -------
        bool
            Whether it was stored.
        """
        row = self.current_row()
        if row is None:
            self.set_message("No synapse selected: build a review list first.", error=True)
            return False
        if self.store is None:
            self.set_message(self._store_error or "No verdict database.", error=True)
            return False
        note = self.note.text().strip()
        reviewer = self.reviewer.text().strip() or default_reviewer()
        attrs = self.worklist.attrs
        mat = attrs.get("materialization_version") or attrs.get("materialization",
                                                                 self.session.params.materialization)
        try:
            self.store.set_verdict(
                self.dataset_name, row["synapse_id"], row["pre_pt_supervoxel_id"],
                row["post_pt_supervoxel_id"], verdict, note=note, reviewer=reviewer,
                pre_pt_root_id=row["pre_pt_root_id"], post_pt_root_id=row["post_pt_root_id"],
                materialization=str(mat), x=row["x"], y=row["y"], z=row["z"])
        except (VerdictError, OSError) as e:
            self.set_message(f"Verdict not saved: {e}", error=True)
            show_error(f"napari-crant: verdict not saved: {e}")
            return False
        now = pd.Timestamp.now(tz="UTC").isoformat()
        idx = self.current
        for df, i in ((self.items, idx), (self.worklist, self._worklist_index(row["synapse_id"]))):
            if i is None:
                continue
            df.at[i, "verdict"] = verdict
            df.at[i, "note"] = note
            df.at[i, "reviewer"] = reviewer
            df.at[i, "reviewed_at"] = now
        self.state.update(row["synapse_id"], verdict)
        self.note.clear()
        self.set_message(f"Saved: synapse {int(row['synapse_id'])} {verdict}.")
        self._refresh_table()
        self._refresh_verdict_layer()
        if self.advance.isChecked():
            rows = self.visible_rows()
            later = [r for r in rows if r > idx]
            if later:
                self.go_to(later[0])
            elif self.unreviewed_only.isChecked() and rows:
                self.go_to(rows[0])
            elif self.unreviewed_only.isChecked():
                self.go_to(None)
            else:
                self.go_to(idx)
        else:
            self.go_to(idx)
        return True

    def _worklist_index(self, synapse_id: Any) -> int | None:
        hit = np.flatnonzero(self.worklist["synapse_id"].to_numpy(np.uint64) == np.uint64(synapse_id))
        return int(hit[0]) if len(hit) else None

    def counts(self) -> dict[str, int]:
        """Verdict counts of the review set (plus ``'unreviewed'``)."""
        if self.items.empty:
            return {v: 0 for v in (*VERDICTS, "unreviewed")}
        v = self.items["verdict"]
        out = {k: int((v == k).sum()) for k in VERDICTS}
        out["unreviewed"] = int(v.isna().sum())
        return out

    def _refresh_progress(self) -> None:
        if self.items.empty:
            self.progress.setText("")
            return
        c = self.counts()
        n = len(self.items)
        k = n - c["unreviewed"]
        parts = ", ".join(f"{c[v]} {v.replace('_', ' ')}" for v in VERDICTS)
        self.progress.setText(f"reviewed {k} of {n} ({parts})")

    def _refresh_table(self) -> None:
        rows = self.visible_rows()
        if self.items.empty:
            self.model.set_frame(pd.DataFrame())
            return
        df = self.items.iloc[rows]
        shown = pd.DataFrame({
            "#": np.array(rows, np.int64) + 1,
            "verdict": df["verdict"].to_numpy(object),
            "synapse_id": df["synapse_id"].to_numpy(np.uint64),
            "type": df["type"].to_numpy(),
            "partner_id": df["partner_id"].to_numpy(np.uint64),
            "size": df["size"].to_numpy(np.int64),
            "distance": df["distance"].to_numpy(np.float64),
            "reason": df["reason"].to_numpy(object),
        })
        self.model.set_frame(shown)
        self.table.resizeColumnsToContents()
        if self.current is not None:
            self._select_table_row(self.current)
        self._refresh_progress()

    def _refresh_verdict_layer(self) -> None:
        items = self.items
        data = np.zeros((0, 3)) if items.empty else items[["z", "y", "x"]].to_numpy(np.float64)
        verdict = items["verdict"].to_numpy(object) if len(items) else np.array([], object)
        colors = np.array([VERDICT_COLORS.get(v if isinstance(v, str) else None) for v in verdict]
                          ).reshape(-1, 4)
        features = pd.DataFrame({
            "synapse_id": id_strings(items["synapse_id"]) if len(items) else np.array([], object),
            "partner_id": id_strings(items["partner_id"]) if len(items) else np.array([], object),
            "verdict": np.array([v if isinstance(v, str) else "unreviewed" for v in verdict], object),
            "reason": items["reason"].to_numpy(object) if len(items) else np.array([], object),
        })
        self._set_points("qc_verdicts", data, features, colors, 600.0)

    # -- export / import ----------------------------------------------------------------------
    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export verdicts", "verdicts.csv",
                                              "CSV (*.csv);;Parquet (*.parquet)")
        if path:
            self.export(path)

    def export(self, path: Any) -> bool:
        """Write this dataset's verdicts (all datasets if none is open) to CSV or Parquet."""
        if self.store is None:
            self.set_message(self._store_error or "No verdict database.", error=True)
            return False
        try:
            out = self.store.export(path, dataset=self.dataset_name or None)
        except (VerdictError, OSError) as e:
            self.set_message(f"Not exported: {e}", error=True)
            return False
        self.set_message(f"Exported verdicts to {out}.")
        return True

    def _on_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import verdicts", "",
                                              "Verdicts (*.csv *.parquet);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: Any) -> bool:
        """Import exported verdicts: all rows or, on any problem, none (the error is shown)."""
        if self.store is None:
            self.set_message(self._store_error or "No verdict database.", error=True)
            return False
        try:
            n = self.store.import_file(path)
        except VerdictError as e:
            self.set_message(f"Nothing imported: {e}", error=True)
            show_error(f"napari-crant: nothing imported: {e}")
            return False
        self.set_message(f"Imported {n} verdict{'s' if n != 1 else ''}.")
        show_info(f"napari-crant: imported {n} verdicts")
        if not self.worklist.empty:
            got = self.store.for_synapses(self.dataset_name, self.worklist)
            for c in got.columns:
                self.worklist[c] = got[c].to_numpy(object)
            keep = self.current
            self.apply_set()
            if keep is not None and keep < len(self.items):
                self.go_to(keep)
        self.refresh_rejected()
        return True

    # ------------------------------------------------------------------------------------
    # keeping up with edits
    # ------------------------------------------------------------------------------------
    def _on_watch_toggled(self, on: bool) -> None:
        if on:
            self.timer.start()
        else:
            self.timer.stop()

    def check_now(self) -> Any:
        """Check whether the loaded roots are still current (worker); returns the worker."""
        roots = self.session.scene.root_ids
        if not len(roots):
            self.edit_status.setText("No neurons loaded.")
            return None
        if self.watch_worker is not None:
            return self.watch_worker
        self.edit_status.setText(f"Checking {len(roots)} neuron{'s' if len(roots) != 1 else ''}…")
        return self._start(_check_worker, roots, self.session.params.dataset, returned=self._on_checked,
                           errored=lambda m: self.edit_status.setText(f"Check failed: {m}"),
                           attr="watch_worker")

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
        self.set_message(" ".join(lines) + " See the Edits tab.")
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
            self.set_message("No edited neuron to act on; press 'Check now'.", error=True)
            return None
        return int(old), self.outdated[int(old)]

    def show_edit_diff(self, old: Any = None) -> Any:
        """Synapses gained / lost and partner changes of an edited neuron (worker)."""
        pair = self._chosen_outdated(old)
        if pair is None:
            return None
        self.diff_summary.setText(f"Comparing {pair[0]} with {pair[1]}…")
        return self._start(_edit_diff_worker, pair[0], pair[1], self.session.params.dataset,
                           int(self.session.params.threshold), returned=self._on_edit_diff,
                           errored=lambda m: self.diff_summary.setText(f"Diff failed: {m}"),
                           attr="diff_worker", progress="CRANT edit diff")

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
        self._set_points("qc_diff", data, features, colors, 900.0, symbol="diamond")
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

        def done(result: Any) -> None:
            self._replace_neuron(old_id, result)

        return self._start(_update_worker, new_id, kwargs, returned=done,
                           errored=lambda m: self.edit_status.setText(f"Update failed: {m}"),
                           attr="update_worker", progress="CRANT update neuron")

    def _replace_neuron(self, old: int, result: Any) -> None:
        scene = self.session.scene
        if hasattr(scene, "remove"):
            scene.remove(old)
        else:
            scene.neurons.pop(int(old), None)
            if not scene.partners.empty:
                keep = scene.partners["neuron_id"].to_numpy(np.uint64) != np.uint64(old)
                scene.partners = scene.partners[keep].reset_index(drop=True)
        reviewing = self.root == int(old)
        new = self.outdated.pop(int(old), None)
        if new is not None:
            self.root_materialization[int(new)] = "live"
        self.session.add(result)
        self.outdated_box.removeItem(max(self.outdated_box.findData(str(old)), 0))
        self.update_button.setEnabled(bool(self.outdated))
        self.diff_button.setEnabled(bool(self.outdated))
        self.edit_status.setStyleSheet("")
        self.edit_status.setText(f"{old} replaced by {new} (live)."
                                 + (" Rebuilding its review list…" if reviewing else ""))
        show_info(f"napari-crant: {old} replaced by {new}")
        if reviewing and new is not None:
            idx = self.neuron.findData(str(new))
            if idx >= 0:
                self.neuron.setCurrentIndex(idx)
                self.build()

    def compare_versions(self, a: Any = None, b: Any = None) -> Any:
        """Partner weights of the chosen neuron between two materializations (worker)."""
        root = self.selected_root()
        if root is None:
            self.version_summary.setText("Load a neuron first.")
            return None
        a = _materialization(self.version_a.text()) if a is None else a
        b = _materialization(self.version_b.text()) if b is None else b
        self.version_summary.setText(f"Comparing partners of {root}: {a} vs {b}…")

        def done(df: pd.DataFrame) -> None:
            self.version_model.set_frame(df)
            self.version_table.resizeColumnsToContents()
            n = int((df["change"] != 0).sum()) if len(df) else 0
            self.version_summary.setText(f"{root}: {n} of {len(df)} partner weights differ ({a} → {b}).")

        return self._start(_version_diff_worker, root, a, b, self.session.params.dataset,
                           int(self.session.params.threshold), returned=done,
                           errored=lambda m: self.version_summary.setText(f"Nothing compared: {m}"),
                           attr="version_worker", progress="CRANT version diff")
