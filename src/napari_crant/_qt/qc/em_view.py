"""What the EM panel shows of its tissue in 2D and 3D: the segments' outlines, the section, the dot.

:class:`TissueView` is the part of :class:`~napari_crant._qt.qc.em_panel.EMPanel` (a mixin: it uses
the panel's ``shown`` tissue, ``session``, ``review``, ``outline`` and ``section`` widgets,
``arrangement`` and ``current_dot``) that follows the display: in 2D the segments layer holds the
segments whole (napari outlines them, a hover shows the root anywhere on one), in 3D their
contours (napari draws no Labels contours in 3D); the section shown (z slider or plane); the layer
order, the synapse's verdict dot and the depth of the synapse dots (drawn whole where the 3D
plane passes through them) when the display changes.
"""

from typing import Any

import numpy as np

from napari_crant._qt.dot_depth import relift
from napari_crant._qt.qc.em_layers import plane_through
from napari_crant._qt.qc.slicing import set_z_point
from napari_crant._qt.session import find_layer
from napari_crant.qc.em_review import SynapseTissue


class TissueView:
    """Display-dependent drawing of :class:`~napari_crant._qt.qc.em_panel.EMPanel` (see the module)."""

    #: what the segments layer holds: ``'outline'`` (the segments whole) or ``'contours'``
    _segments_held: str | None = None

    def _segments_data(self, tissue: SynapseTissue) -> np.ndarray:
        """What the segments layer holds for ``tissue``: in 3D, outlined, the segments' contours
        drawn into the labels (napari draws no contours in 3D); else the segments whole (napari
        outlines them in 2D, and a hover anywhere on a segment shows its root)."""
        viewer = self.session.viewer
        flat = viewer is None or viewer.dims.ndisplay == 2
        self._segments_held = "outline" if flat or not self.outline.isChecked() else "contours"
        return tissue.outline if self._segments_held == "outline" else tissue.contours

    def _apply_outline(self, on: bool) -> None:
        viewer = self.session.viewer
        layer = None if viewer is None else find_layer(viewer, "qc_segments")
        if layer is None:
            return
        # napari draws no contours in 3D (and warns at every slice): there the layer holds the
        # contours themselves (filled), and the segments whole when not outlined
        contour = 2 if on and viewer.dims.ndisplay == 2 else 0
        if layer.contour != contour:
            layer.contour = contour
        held = self._segments_held
        tissue = self.shown
        if tissue is not None and tissue.outline is not None:
            data = self._segments_data(tissue)
            if self._segments_held != held:
                layer.data = np.array(data, copy=True)  # the layer owns its array (see put_cutout_layer)

    def _on_section(self, index: int) -> None:
        """Show section ``index`` of the cutout: the z slider in 2D, the plane in 3D."""
        tissue = self.shown
        viewer = self.session.viewer
        if tissue is None or viewer is None:
            return
        zs = tissue.section_z()
        z = float(zs[min(max(index, 0), len(zs) - 1)])
        for kind, cutout in (("qc_em", tissue.em), ("qc_segments", tissue.segmentation)):
            layer = find_layer(viewer, kind)
            if layer is not None and cutout is not None:
                layer.plane = plane_through(tissue, z, cutout)
        axis = viewer.dims.ndim - 3
        if viewer.dims.ndisplay == 2 and axis >= 0:
            set_z_point(viewer, axis, z)
        self._label_section()

    def _label_section(self) -> None:
        tissue = self.shown
        if tissue is None:
            self.section_label.setText("")
            return
        z = float(tissue.section_z()[self.section.value()])
        self.section_label.setText(f"{self.section.value() + 1}/{self.section.maximum() + 1} (z {z:,.0f} nm)")

    def _on_ndisplay(self, event: Any = None) -> None:
        if self.shown is not None:
            self.arrangement.after_ndisplay()
            self._apply_outline(self.outline.isChecked())
            self._on_section(self.section.value())
            self._place_dot()

    def _place_dot(self) -> None:
        """In 3D, with the EM plane shown, the synapse's verdict dot hidden (the ring marks it) and
        the synapse dots the plane passes through drawn whole (:func:`relift`)."""
        viewer = self.session.viewer
        if viewer is None or self.current_dot is None:
            return
        relift(viewer)
        em = find_layer(viewer, "qc_em")
        on_plane = viewer.dims.ndisplay == 3 and em is not None and em.visible and self.shown is not None
        self.current_dot.hide(self.review.current if on_plane else None)
