"""The QC dock's view options: look across the synapse (oblique) and a thin slab around it."""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QWidget

from napari_crant.qc.synapse_view import SLAB_NM, oblique_directions, slab_clipping_planes, synapse_sites
from napari_crant.scene.layer_conventions import METADATA_KEY


class ViewOptions(QWidget):
    """*oblique* and *slab* check boxes and the slab thickness, applied to each synapse shown.

    Parameters
    ----------
    review
        The :class:`~napari_crant.qc.review.ReviewModel` (its ``position_changed`` drives this).
    session
        The viewer's session (its ``viewer``).
    """

    def __init__(self, review: Any, session: Any):
        super().__init__()
        self.review = review
        self.session = session
        self.oblique = QCheckBox("oblique")
        self.oblique.setToolTip("3D: look across the synapse, pre and post side by side")
        self.slab = QCheckBox("slab")
        self.slab.setToolTip("show only a thin slab around the synapse (3D: clipping planes across "
                             "the view; 2D: the z thickness)")
        self.thickness = QDoubleSpinBox()
        self.thickness.setRange(50, 1e5)
        self.thickness.setSingleStep(250)
        self.thickness.setValue(SLAB_NM)
        self.thickness.setSuffix(" nm")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("view"))
        for w in (self.oblique, self.slab, self.thickness):
            lay.addWidget(w)
        lay.addStretch(1)
        self._clipped: list[Any] = []
        self._thickness_before: tuple | None = None
        review.position_changed.connect(self.apply)
        for box in (self.oblique, self.slab):
            box.toggled.connect(lambda _on: self.apply(self.review.current))
        self.thickness.valueChanged.connect(lambda _v: self.apply(self.review.current))

    def apply(self, index: Any) -> None:
        """Turn the camera and clip the layers for the synapse at ``index`` of the review."""
        viewer = self.session.viewer
        if viewer is None:
            return
        row = None if index is None or self.review.items.empty else self.review.items.iloc[int(index)]
        if row is None or "pre_x" not in row.index:
            self._unclip(viewer)
            return
        pre, post = synapse_sites(row)
        site = np.array([row["z"], row["y"], row["x"]], np.float64)
        view, up = oblique_directions(pre, post)
        three_d = viewer.dims.ndisplay == 3
        cam = viewer.scene.camera if hasattr(getattr(viewer, "scene", None), "camera") else viewer.camera
        if self.oblique.isChecked() and three_d:
            cam.set_view_direction(tuple(view), tuple(up))
        if not self.slab.isChecked():
            self._unclip(viewer)
            return
        if three_d:
            planes = slab_clipping_planes(site, np.asarray(cam.view_direction, np.float64),
                                          self.thickness.value())
            self._clipped = [layer for layer in viewer.layers if METADATA_KEY in layer.metadata]
            for layer in self._clipped:
                layer.experimental_clipping_planes = planes
        elif viewer.dims.ndim >= 3:
            axis = viewer.dims.ndim - 3
            if self._thickness_before is None:
                self._thickness_before = tuple(viewer.dims.thickness)
            thickness = list(viewer.dims.thickness)
            thickness[axis] = float(self.thickness.value())
            viewer.dims.set_point(axis, float(site[0]))
            viewer.dims.thickness = tuple(thickness)

    def _unclip(self, viewer: Any) -> None:
        for layer in self._clipped:
            if layer in viewer.layers:
                layer.experimental_clipping_planes = []
        self._clipped = []
        if self._thickness_before is not None:
            viewer.dims.thickness = self._thickness_before
            self._thickness_before = None
