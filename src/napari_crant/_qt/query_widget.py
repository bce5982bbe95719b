"""The query dock: choose data, paste IDs or search annotations, load neurons in a worker."""

import threading
from typing import Any

import napari
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
    TextEdit,
)
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer

from napari_crant._qt.dock_opening import DockOpening
from napari_crant._qt.dock_plumbing import DockCloseWatch, scroll_contents
from napari_crant._qt.elided_label import ElidedMessage
from napari_crant._qt.query_workers import load_worker, search_worker, versions_worker
from napari_crant._qt.session import get_session
from napari_crant._qt.utils import close_error_popups, is_alive
from napari_crant.scene.colors import COLOR_MODES

#: annotation fields offered in the search box
SEARCH_FIELDS = ("cell_type", "side", "cell_class", "status")
#: milliseconds without typing before the matches are counted
COUNT_DELAY_MS = 250
#: shortest time between two progress messages of a load (ms)
PROGRESS_MS = 250

#: prefix of this dock's error pop-ups (closed when a new attempt starts)
ERROR_PREFIX = "napari-crant: "


class QueryWidget(Container):
    """Load CRANTb neurons (skeletons, synapses, partners) into the viewer.

    Parameters
    ----------
    napari_viewer
        Injected by napari.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.session = get_session(napari_viewer)
        self.worker: Any = None
        #: the last load's worker (kept after it finished, for tests and scripts)
        self._last_worker: Any = None
        self.search_worker: Any = None
        #: every running worker of this widget (tests wait for it to empty)
        self.workers: set[Any] = set()
        p = self.session.params
        self.dataset = LineEdit(value=str(p.dataset), label="dataset",
                                tooltip="'demo', a snapshot directory, or a registered dataset name")
        self.browse = PushButton(text="Snapshot directory…", label="")
        self.materialization = ComboBox(choices=["latest", "live"], value="latest",
                                        label="materialization",
                                        tooltip="'latest' valid version, 'live' (now), or a version")
        self.ids = TextEdit(label="neuron IDs",
                            tooltip="Paste IDs separated by commas, spaces or newlines (a spreadsheet "
                                    "column works)")
        self.ids.native.setPlaceholderText("paste root IDs: commas, spaces, newlines…")
        self.ids.native.setMaximumHeight(80)
        self.search = {f: LineEdit(label=f.replace("_", " "), tooltip=f"annotation field {f}")
                       for f in SEARCH_FIELDS}
        self.regex = CheckBox(value=False, text="regex")
        self.case = CheckBox(value=False, text="case-sensitive")
        self.exact = CheckBox(value=False, text="whole value")  # "KC" finds KC_ab, kc_g…
        self.match_label = Label(value="", label="matches")
        self.threshold = SpinBox(value=p.threshold, min=1, max=1000, label="threshold",
                                 tooltip="minimum synapses per (pre, post) pair")
        self.min_size = FloatSpinBox(value=0, min=0, max=1e9, step=10, label="min size",
                                     tooltip="drop synapses smaller than this (0: keep all)")
        self.clean = CheckBox(value=p.clean, text="clean (drop autapses and unsegmented partners)")
        self.update_ids = CheckBox(value=p.update_ids, text="update outdated IDs")
        self.max_distance = FloatSpinBox(value=p.max_distance, min=0, max=1e7, step=1000,
                                         label="max distance (nm)",
                                         tooltip="drop synapses farther than this from the skeleton")
        self.top_partners = SpinBox(value=0, min=0, max=100, label="+ top partners",
                                    tooltip="also load the skeletons of this many strongest partners")
        self.color_by = ComboBox(choices=list(COLOR_MODES), value=self.session.color_by,
                                 label="colour synapses by")
        self.load_button = PushButton(text="Load")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.clear_button = PushButton(text="Clear")
        self.buttons = Container(widgets=[self.load_button, self.cancel_button, self.clear_button],
                                 layout="horizontal", labels=False, label="")
        self.message = ElidedMessage(lines=2, label="")
        self.search_options_row = Container(widgets=[self.regex, self.case, self.exact], layout="horizontal",
                                 labels=False, label="search")
        self.dataset_row = Container(widgets=[self.dataset, self.browse], layout="horizontal",
                                     labels=False, label="dataset")
        self.browse.text = "Browse…"
        self.search_rows = [
            Container(widgets=[self.search["cell_type"], self.search["side"]], layout="horizontal",
                      label="cell type, side", labels=False),
            Container(widgets=[self.search["cell_class"], self.search["status"]], layout="horizontal",
                      label="class, status", labels=False),
        ]
        for f, w in self.search.items():
            w.native.setPlaceholderText(f.replace("_", " "))
        self.filter_rows = [
            Container(widgets=[self.threshold, self.min_size], layout="horizontal",
                      label="threshold, size", labels=False),
            Container(widgets=[self.clean, self.update_ids], layout="horizontal", label="", labels=False),
        ]
        self.clean.text = "clean"
        self.clean.tooltip = "drop autapses and synapses with unsegmented partners"
        self.extend([
            self.dataset_row, self.materialization, self.ids, *self.search_rows,
            self.search_options_row, self.match_label, *self.filter_rows, self.max_distance,
            self.top_partners, self.color_by, self.buttons, self.message,
        ])
        from napari_crant._qt.share import ShareRow

        self.share = ShareRow(self)  # Neuroglancer link, save/open a session
        self.append(self.share)
        from napari_crant._qt.split_notice import SplitNotice

        self.split_notice = SplitNotice(self.load_ids)  # pieces of neurons split since
        self.insert(self.index(self.message) + 1, self.split_notice)
        self._count_timer = QTimer(self.native)  # count matches once typing pauses
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_DELAY_MS)
        self._count_timer.timeout.connect(self.count_matches)
        #: the last ``(step, total, message)`` of the running load (``None`` before its first)
        self.progress: tuple[int, int, str] | None = None
        self._progress_timer = QTimer(self.native)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        from napari_crant._qt.mesh_row import MeshRow

        self.meshes = MeshRow(napari_viewer)  # neurons as skeletons/meshes/both; brain or neuropil context
        self.insert(self.index(self.buttons), self.meshes)
        # the Load/Cancel row, the message and the split notice stay visible below the scroll area
        scroll_contents(self.native, pinned=(self.buttons.native, self.message.native,
                                              self.split_notice.native))
        self.load_button.changed.connect(self._on_load)
        self.cancel_button.changed.connect(self.cancel)
        self.clear_button.changed.connect(self.session.clear)
        self.browse.changed.connect(self._on_browse)
        self.dataset.native.editingFinished.connect(self.refresh_versions)
        self.color_by.changed.connect(self.session.set_color_by)
        for w in (*self.search.values(), self.regex, self.case, self.exact):
            w.changed.connect(self._count_soon)
        self.session.load_requested.connect(self.load_ids)
        self._stop = threading.Event()
        self._close_watch = DockCloseWatch(self)  # removing the dock stops and waits on its workers
        # the Preferences page, the warm-up and napari's first layers: in workers and later turns
        self.opening = DockOpening(self)

    @property
    def warm_up_worker(self) -> Any:
        """The background warm-up (imports, the default dataset); ``None`` until it starts."""
        return self.opening.warm_up_worker

    @property
    def warm_up_result(self) -> str | None:
        """What the warm-up did (``None`` until it returns)."""
        return self.opening.warm_up_result

    # -- helpers ---------------------------------------------------------------------------
    def set_message(self, text: str, error: bool = False) -> None:
        """Show ``text`` under the buttons (red for errors)."""
        self.message.value = text
        self.message.native.setStyleSheet("color: #ff6b6b;" if error else "")

    def _dataset(self) -> str:
        return self.dataset.value.strip() or "demo"

    def _materialization(self) -> Any:
        v = self.materialization.value
        return int(v) if str(v).isdigit() else v

    def criteria(self) -> dict[str, str]:
        """The non-empty annotation search fields."""
        return {f: w.value.strip() for f, w in self.search.items() if w.value.strip()}

    def _search_options(self) -> dict[str, Any]:
        return {"regex": self.regex.value, "case": self.case.value, "exact": self.exact.value}

    def _on_browse(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path = QFileDialog.getExistingDirectory(self.native, "CRANTb snapshot directory")
        if path:
            self.dataset.value = path
            self.refresh_versions()

    # -- versions and annotation search ------------------------------------------------------
    def refresh_versions(self) -> Any:
        """List the dataset's valid versions in the materialization box (in a worker)."""
        worker = create_worker(versions_worker, self._dataset(), _start_thread=False, _ignore_errors=True)

        def done(versions: list[str]) -> None:
            if not is_alive(self):
                return
            current = self.materialization.value
            self.materialization.choices = ["latest", "live", *versions]
            if current in self.materialization.choices:
                self.materialization.value = current

        worker.returned.connect(done)
        worker.errored.connect(lambda e: is_alive(self) and self.set_message(f"dataset: {e}", error=True))
        self._track(worker)
        worker.start()
        return worker

    def _count_soon(self) -> None:
        self.match_label.value = "counting…" if self.criteria() else ""
        self._count_timer.start()

    def count_matches(self) -> Any:
        """Count neurons matching the annotation search (in a worker); shown before loading."""
        criteria = self.criteria()
        if not criteria:
            self.match_label.value = ""
            return None
        self.match_label.value = "counting…"
        worker = create_worker(search_worker, criteria, dataset=self._dataset(),
                               _start_thread=False, _ignore_errors=True, **self._search_options())

        def done(result: tuple[int, Any]) -> None:
            if is_alive(self) and criteria == self.criteria():
                n = result[0]
                self.match_label.value = f"{n} neuron{'s' if n != 1 else ''} match"

        worker.returned.connect(done)
        worker.errored.connect(lambda e: is_alive(self) and setattr(self.match_label, "value", str(e)))
        self.search_worker = worker
        self._track(worker)
        worker.start()
        return worker

    def _track(self, worker: Any) -> None:
        self.workers.add(worker)
        worker.finished.connect(lambda: self.workers.discard(worker))

    # -- loading ------------------------------------------------------------------------------
    def _on_load(self) -> None:
        self._last_worker = None
        self.load()

    def load(self) -> Any:
        """Load the pasted IDs and/or the annotation matches; returns the worker (or ``None``)."""
        from napari_crant.ids import InvalidIDError, parse_id_text

        text = self.ids.value.strip()
        criteria = self.criteria()
        ids = None
        if text:
            try:
                ids = parse_id_text(text)
            except InvalidIDError as e:
                self.set_message(f"Nothing loaded: {e}", error=True)
                return None
        if (ids is None or len(ids) == 0) and not criteria:
            self.set_message("Paste neuron IDs or fill in an annotation search first.", error=True)
            return None
        return self._start(ids, criteria)

    def load_ids(self, ids: Any) -> Any:
        """Load exactly these IDs (no extra partners) with the current filters (used by other docks)."""
        if not is_alive(self):
            return None
        return self._start(ids, None, top_partners=0)

    def _collect_params(self) -> None:
        p = self.session.params
        p.dataset = self._dataset()
        p.materialization = self._materialization()
        p.threshold = int(self.threshold.value)
        p.min_size = float(self.min_size.value) or None
        p.clean = bool(self.clean.value)
        p.update_ids = bool(self.update_ids.value)
        p.max_distance = float(self.max_distance.value)

    def _start(self, ids: Any, criteria: dict[str, str] | None, top_partners: int | None = None) -> Any:
        if self.worker is not None:
            self.set_message("A load is already running; cancel it first.", error=True)
            return None
        self.opening.wait_for_preferences()  # (a default dataset of the Preferences page)
        from napari_crant._qt.worker_guard import import_before_workers

        import_before_workers()  # (a load started in the turn the dock was made: the session's is later)
        self._collect_params()
        top = int(self.top_partners.value) if top_partners is None else top_partners
        close_error_popups(ERROR_PREFIX)  # errors of earlier attempts are stale now
        self._stop = threading.Event()
        worker = create_worker(
            load_worker, ids, criteria, self._search_options(), self.session.params.load_kwargs(), top,
            self._stop, self.opening.worker_pulse,
            _start_thread=False, _ignore_errors=True,
        )  # no napari progress bar: its animated status-bar indicator repaints the whole window
        # ~25 times a second while it runs (70 ms each with software OpenGL), starving the load;
        # the progress is in this dock's message line (at most every PROGRESS_MS)
        self.progress = None
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_error)
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        worker._napari_crant_stop = self._stop  # set when the viewer or the dock closes
        self.worker = self._last_worker = worker
        self._track(worker)
        self.load_button.enabled = False
        self.cancel_button.enabled = True
        self.set_message("Loading…")
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop the running load at its next neuron, keeping (and showing) the neurons loaded so far."""
        if self.worker is not None:
            self.set_message("Cancelling (keeping the neurons loaded so far)…")
            self._stop.set()

    def _on_progress(self, value: tuple[int, int, str]) -> None:
        """Keep the load's progress; shown at most every :data:`PROGRESS_MS` (each message
        repaints the window: 300 neurons would repaint it 300 times)."""
        first = self.progress is None
        self.progress = value
        if not is_alive(self):
            return
        if first:
            self._show_progress()
        elif not self._progress_timer.isActive():
            self._progress_timer.start()

    def _show_progress(self) -> None:
        if self.worker is None or self.progress is None or not is_alive(self):
            return  # finished meanwhile: its own message stands
        step, total, msg = self.progress
        self.set_message(f"Loading: {msg} ({step}/{total})")

    def _end_progress(self) -> None:
        """The load ended: no pending progress message overwrites its final one (``progress`` stays)."""
        if is_alive(self):
            self._progress_timer.stop()

    def _on_returned(self, result: Any) -> None:
        self._end_progress()
        if result.cancelled and not result.neurons:  # cancelled before any neuron arrived
            if is_alive(self):
                self.set_message("Cancelled; nothing loaded.")
            return
        if not is_alive(self):  # the dock was closed: still show what was loaded
            self.session.add(result)
            return
        messages = self.session.add(result)
        self.split_notice.show_split(result.split)
        if len(self.materialization.choices) <= 2:  # the dataset is open now: list its versions
            self.refresh_versions()
        n = len(result.neurons)
        text = f"Loaded {n} neuron{'s' if n != 1 else ''} ({len(self.session.scene.neurons)} shown)."
        if result.cancelled:
            text = (f"Cancelled: kept the {n} of {result.requested} neurons loaded so far "
                    f"({len(self.session.scene.neurons)} shown).")
        close_error_popups(ERROR_PREFIX)
        if messages:
            text += "\n" + "\n".join(messages)
            show_info("; ".join(messages))
        self.set_message(text)

    def _on_error(self, exc: BaseException) -> None:
        self._end_progress()
        if not is_alive(self):
            return
        msg = str(exc) or type(exc).__name__
        self.set_message(f"Nothing loaded: {msg}", error=True)
        show_error(f"{ERROR_PREFIX}{msg}")

    def _on_aborted(self) -> None:
        self._end_progress()
        if not is_alive(self):
            return
        self.set_message("Cancelled; nothing loaded.")

    def _on_finished(self) -> None:
        if not is_alive(self):
            return
        self.worker = None
        self.load_button.enabled = True
        self.cancel_button.enabled = False
