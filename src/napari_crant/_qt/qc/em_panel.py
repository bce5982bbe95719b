"""The QC dock's EM panel: the EM and the partners' segments around the synapse shown.

:class:`EMPanel` follows a :class:`~napari_crant.qc.review.ReviewModel` through a Qt-free
:class:`~napari_crant.qc.em_prefetch.EMPrefetch`: the shown synapse's tissue and the next ones'
are fetched in a worker, one at a time, into a bounded cache, so stepping shows EM at once.
It draws two layers in the same (z, y, x) nm world as every other layer:

- ``CRANT QC EM``: an Image of the EM cutout (2D: the section at the z slider; 3D: a plane
  through the synapse, ``depiction='plane'``);
- ``CRANT QC segments``: a Labels layer holding only the pre and post roots, outlined.

A click on the canvas inside the cutout shows the root there (at the review's timestamp) in
the panel and the status bar; *Load* (or the ``l`` key) loads it in the query dock. Every
failure (no image source, no segmentation, outside the volume, network) is a message in the
panel; the review goes on. The layers are made and moved by :mod:`~napari_crant._qt.qc.em_layers`,
clicks answered by :class:`~napari_crant._qt.qc.em_picking.SegmentPicking`, the display followed by
:class:`~napari_crant._qt.qc.em_view.TissueView`.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.dot_depth import relift
from napari_crant._qt.elided_label import ElidedLabel
from napari_crant._qt.qc.canvas import kept_dims_point, one_extent_update
from napari_crant._qt.qc.current_dot import CurrentDot
from napari_crant._qt.qc.em_layers import plane_through, put_cutout_layer, section_of, show_moved, thin_ring
from napari_crant._qt.qc.em_picking import SegmentPicking
from napari_crant._qt.qc.em_view import TissueView
from napari_crant._qt.qc.layer_order import TissueArrangement
from napari_crant._qt.qc.slicing import set_z_point
from napari_crant._qt.qc.workers import WorkerRunner
from napari_crant._qt.session import Session, find_layer
from napari_crant._qt.utils import is_alive
from napari_crant.qc.em_prefetch import EMPrefetch
from napari_crant.qc.em_process import TissueProcess
from napari_crant.qc.em_review import CUTOUT_SIZE_NM, SynapseTissue, synapse_key
from napari_crant.qc.review import ReviewModel
from napari_crant.scene.layer_conventions import METADATA_KEY

#: the layers "hide other layers" keeps
EM_ONLY_KINDS = ("qc_em", "qc_segments", "qc_current")
#: the segments' blending: no depth test, so that in 3D their outline (on the EM plane, at its
#: depth) is drawn over the plane drawn just before it, not hidden by it; whatever is drawn later
#: (the neurons, in front of the plane or behind it) is depth-tested against the plane as before
SEGMENTS_BLENDING = "translucent_no_depth"


class EMPanel(SegmentPicking, TissueView, QWidget):
    """EM, segments and root picking at the synapse shown.

    Parameters
    ----------
    review
        The review followed.
    session
        The viewer's session (dataset; load requests go through it).
    on_error
        Shows an error that is not about the EM (a worker's unexpected failure).
    fetch
        ``fetch(row, dataset, materialization, size_nm) -> SynapseTissue`` (run in a worker;
        default :meth:`TissueProcess.fetch <napari_crant.qc.em_process.TissueProcess.fetch>` of
        :attr:`renderer`: the demo's synthetic tissue is drawn in a child process, other sources
        are read in the worker thread).
    """

    def __init__(self, review: ReviewModel, session: Session, on_error: Callable[[str], None],
                 fetch: Callable[..., SynapseTissue] | None = None):
        super().__init__()
        self.review = review
        self.session = session
        #: runs the fetches (apart from the review's workers: a fetch may take seconds)
        self.runner = WorkerRunner(self, on_error)
        self._stopped = False
        #: the child process drawing the demo's tissue (started at the first fetch, ended by
        #: :meth:`disconnect`)
        self.renderer = TissueProcess()
        self.fetch = fetch or self.renderer.fetch
        # closing the viewer deletes the docks without closing them: the child ends with the panel
        renderer = self.renderer
        self.destroyed.connect(lambda *_: renderer.close())
        self.prefetch = EMPrefetch(review)
        # a fetch the walk passed is dropped before it starts, or cancelled in the child
        self.renderer.still_wanted = self.prefetch.still_wanted
        #: the tissue drawn in the layers (``None``: nothing drawn)
        self.shown: SynapseTissue | None = None
        #: what the segments layer holds: ``'outline'`` (the segments whole) or ``'contours'``
        self._segments_held: str | None = None
        #: the root last picked with a click (``None``: none)
        self.picked_root: int | None = None
        self._build_ui()
        #: the cutout size of the cached tissue
        self._size_fetched = self.size_nm
        review.worklist_changed.connect(self._on_worklist)
        review.position_changed.connect(self._on_position)
        self.prefetch.ready.connect(self._on_ready)
        self.prefetch.failed.connect(self._on_failed)
        viewer = session.viewer
        #: when the tissue's layers are reordered, and what the user moved or hid
        self.arrangement = None if viewer is None else TissueArrangement(viewer, self._place_dot)
        #: the shown synapse's verdict dot, hidden on the 3D EM plane
        self.current_dot = None if viewer is None else CurrentDot(viewer, review)
        if viewer is not None:
            viewer.mouse_drag_callbacks.append(self._on_click)
            viewer.dims.events.ndisplay.connect(self._on_ndisplay)

    def _build_ui(self) -> None:
        self.show_em = QCheckBox("EM at each synapse")
        self.show_em.setChecked(True)
        self.show_em.setToolTip("show the EM and the partners' segments around the synapse shown")
        self.outline = QCheckBox("outline segments")
        self.outline.setChecked(True)
        self.outline.setToolTip("draw the pre and post segments as contours (off: filled)")
        self.em_only = QCheckBox("hide other layers")
        self.em_only.setToolTip("show only the EM, the segments and the ring of the synapse (off: restore)")
        self.section = QSlider(Qt.Orientation.Horizontal)
        self.section.setRange(0, 0)
        self.section.setToolTip("the EM section shown (z)")
        self.section_label = QLabel("")
        self.cutout_width = QSpinBox()
        self.cutout_width.setRange(256, 8192)
        self.cutout_width.setSingleStep(256)
        self.cutout_width.setValue(int(CUTOUT_SIZE_NM[0]))
        self.cutout_width.setSuffix(" nm")
        self.cutout_width.setToolTip("width of the EM cutout around each synapse (x and y)")
        self.cutout_width.setMinimumWidth(130)
        self.sections = QSpinBox()
        self.sections.setRange(1, 41)
        self.sections.setValue(round(CUTOUT_SIZE_NM[2] / 42.0))
        self.sections.setToolTip("number of EM sections around each synapse (about 42 nm each)")
        self.status = ElidedLabel("", lines=2)
        self.retry_button = QPushButton("retry")
        self.retry_button.setToolTip("fetch the EM of this synapse again")
        self.retry_button.setVisible(False)
        self.load_button = QPushButton("load segment (l)")
        self.load_button.setToolTip("load the segment clicked in the EM in the query dock")
        self.load_button.setEnabled(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)  # compact: the review table keeps its rows on short screens
        top = QHBoxLayout()
        for w in (self.show_em, self.outline, QLabel("cutout"), self.cutout_width, QLabel("×"), self.sections,
                  QLabel("sections")):
            top.addWidget(w)
        top.addStretch(1)
        lay.addLayout(top)
        middle = QHBoxLayout()
        for w in (self.em_only, QLabel("section"), self.section, self.section_label):
            middle.addWidget(w)
        lay.addLayout(middle)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.retry_button)
        bottom.addWidget(self.load_button)
        lay.addLayout(bottom)
        self.show_em.toggled.connect(self._on_enabled)
        self.outline.toggled.connect(self._apply_outline)
        self.em_only.toggled.connect(self.set_em_only)
        self.section.valueChanged.connect(self._on_section)
        self.retry_button.clicked.connect(self.retry)
        self.cutout_width.editingFinished.connect(self._on_size)
        self.sections.editingFinished.connect(self._on_size)
        self.load_button.clicked.connect(self.load_picked)

    def set_em_only(self, on: bool) -> None:
        """Hide every layer but the EM, the segments and the synapse's ring (``False``: restore them)."""
        viewer = self.session.viewer
        if viewer is None:
            return
        if on:
            self._hidden = {}
            for layer in viewer.layers:
                if layer.metadata.get(METADATA_KEY) not in EM_ONLY_KINDS and layer.visible:
                    self._hidden[id(layer)] = layer
                    layer.visible = False
        else:
            for layer in getattr(self, "_hidden", {}).values():
                if layer in viewer.layers:
                    layer.visible = True
            self._hidden = {}

    @property
    def size_nm(self) -> tuple[float, float, float]:
        """The cutout's extent (x, y, z) in nm."""
        w = float(self.cutout_width.value())
        return w, w, 42.0 * float(self.sections.value())

    def set_size(self, width_nm: int, sections: int) -> None:
        """Cut ``width_nm`` x ``width_nm`` x ``sections`` around each synapse (refetches)."""
        self.cutout_width.setValue(int(width_nm))
        self.sections.setValue(int(sections))
        self._on_size()

    def _on_size(self) -> None:
        if self.size_nm != self._size_fetched:
            self.prefetch.clear()
            self._on_position(self.review.current)

    @property
    def workers(self) -> set[Any]:
        """The running fetches."""
        return self.runner.workers

    def disconnect(self) -> None:
        """Stop following the review and the viewer, start no more fetches, end the renderer process
        (the dock is closing)."""
        self._stopped = True
        self.renderer.close()
        self.review.worklist_changed.disconnect(self._on_worklist)
        self.review.position_changed.disconnect(self._on_position)
        viewer = self.session.viewer
        if viewer is not None:
            if self._on_click in viewer.mouse_drag_callbacks:
                viewer.mouse_drag_callbacks.remove(self._on_click)
            viewer.dims.events.ndisplay.disconnect(self._on_ndisplay)
            self.arrangement.disconnect()
            self.current_dot.disconnect()

    # -- following the review ------------------------------------------------------------------
    def _on_worklist(self) -> None:
        self.prefetch.clear()
        self._forget_pick()

    def _on_enabled(self, on: bool) -> None:
        if not on:
            self._hide_layers()
            self.status.setText("EM off.")
            return
        if self.arrangement is not None:
            self.arrangement.user_hidden.clear()  # the EM asked for: shown, whatever was hidden
        self._on_position(self.review.current)

    def _hide_layers(self) -> None:
        """Hide the EM and the segments (the plugin's doing, not the user's), and show the
        synapse's verdict dot again."""
        viewer = self.session.viewer
        if viewer is None:
            return
        with self.arrangement.ours():
            for kind in ("qc_em", "qc_segments"):
                layer = find_layer(viewer, kind)
                if layer is not None and layer.visible:
                    layer.visible = False
        self.current_dot.show()
        relift(viewer)  # no plane: the synapse dots' depth as napari draws it

    def _on_position(self, index: int | None) -> None:
        if not is_alive(self) or not self.show_em.isChecked():
            return
        self._forget_pick()
        row = None if index is None else self.review.current_row()
        if row is None:
            self._hide("")
            return
        key = synapse_key(row)
        tissue = self.prefetch.show(key)
        if tissue is not None:
            self.draw(tissue)
        elif key in self.prefetch.failures:
            self._show_failure(key, self.prefetch.failures[key])
        else:
            self._hide(f"Loading EM around synapse {key}…")
        self.pump()

    def pump(self) -> None:
        """Start fetching the next wanted synapse (one worker at a time)."""
        if self._stopped or not self.show_em.isChecked():
            return
        row = self.prefetch.next_request()
        if row is None:
            return
        key, generation = self.prefetch.begin(row)
        p = self.session.params
        self._size_fetched = self.size_nm
        materialization = self.review.materialization
        self.runner.start(self.fetch, row, p.dataset, p.materialization if materialization is None
                          else materialization, self._size_fetched,
                          returned=lambda t, k=key, g=generation: self._arrived(k, t, g),
                          errored=lambda m, k=key, g=generation: self._errored(k, m, g))

    def _arrived(self, key: int, tissue: SynapseTissue, generation: int) -> None:
        self.prefetch.finish(key, tissue, generation)
        self.pump()

    def _errored(self, key: int, message: str, generation: int) -> None:
        self.prefetch.fail(key, message, generation)
        self.pump()

    def _current_key(self) -> int | None:
        row = self.review.current_row()
        return None if row is None else synapse_key(row)

    def _on_ready(self, key: int) -> None:
        if is_alive(self) and self.show_em.isChecked() and key == self._current_key():
            self.draw(self.prefetch.get(key))

    def _on_failed(self, key: int, message: str) -> None:
        if is_alive(self) and key == self._current_key():
            self._show_failure(key, message)

    def _show_failure(self, key: int, message: str) -> None:
        self._hide(f"No EM at synapse {key}: {message}", error=True)
        self.retry_button.setVisible(True)

    def retry(self) -> None:
        """Fetch the shown synapse's tissue again (after a network error, say)."""
        key = self._current_key()
        self.prefetch.retry(key)
        self._on_position(self.review.current)

    # -- drawing ----------------------------------------------------------------------------------
    def _hide(self, text: str, error: bool = False) -> None:
        self._hide_layers()
        self.shown = None
        self.retry_button.setVisible(False)
        self.section_label.setText("")
        self.section.setEnabled(False)
        self._set_status(text, error)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #ff6b6b;" if error else "")

    def draw(self, tissue: SynapseTissue) -> None:
        """Show ``tissue`` in the EM and segments layers (main thread)."""
        viewer = self.session.viewer
        if viewer is None:
            return
        self.shown = tissue
        self.retry_button.setVisible(False)
        z = float(tissue.center[0])
        seg = tissue.segmentation
        seg_layer = find_layer(viewer, "qc_segments")
        # both layers move with one recomputation of the world's extent and the dims, not one each
        moved = []
        arrangement = self.arrangement
        with arrangement.ours(), kept_dims_point(viewer), \
                one_extent_update(viewer, (find_layer(viewer, "qc_em"), seg_layer)):
            moved.append(put_cutout_layer(viewer, "qc_em", np.asarray(tissue.em.data), tissue.em,
                                          plane_through(tissue, z), refresh=False, colormap="gray",
                                          contrast_limits=(0, 255)))
            if tissue.outline is None or seg is None:
                if seg_layer is not None and seg_layer.visible:
                    seg_layer.visible = False
            else:
                moved.append(put_cutout_layer(viewer, "qc_segments", self._segments_data(tissue), seg,
                                              plane_through(tissue, z, seg), refresh=False, opacity=0.8,
                                              blending=SEGMENTS_BLENDING, rendering="translucent"))
        # in 2D the z slider goes to the synapse now (the canvas would move it right after): the moved
        # layers are sliced once, at the synapse's section, not at the old z and again at the new one
        axis = viewer.dims.ndim - 3
        own = [layer for layer, unsliced in moved if unsliced]
        sliced = set_z_point(viewer, axis, z, skip=own) if viewer.dims.ndisplay == 2 and axis >= 0 else []
        with arrangement.ours():
            for layer in own:
                kind = layer.metadata.get(METADATA_KEY)
                show_moved(layer, sliced, viewer.dims, show=arrangement.shows(kind))
        if tissue.outline is not None and seg is not None:
            self._apply_outline(self.outline.isChecked())
        thin_ring(viewer)
        arrangement.watch()
        arrangement.after_step()
        self._place_dot()
        self.section.setEnabled(True)
        nz = int(np.asarray(tissue.em.data).shape[0])
        self.section.blockSignals(True)
        self.section.setRange(0, max(nz - 1, 0))
        self.section.setValue(section_of(tissue, z))
        self.section.blockSignals(False)
        self._label_section()
        notes = "; ".join(tissue.notes)
        self._set_status(f"EM around synapse {tissue.synapse_id}: pre {tissue.pre_root}, "
                         f"post {tissue.post_root}." + (f" {notes}" if notes else "")
                         + " Click a segment to see its root.", bool(notes))
