"""Picking a segment in the QC dock's EM: a click shows the root there, *Load* loads it.

:class:`SegmentPicking` is the EM panel's part that answers clicks on the canvas (2D, and in 3D
on the EM plane) with the root at that point (at the review's timestamp), shown in the panel
and the status bar, and asks the query dock to load it.
"""

from typing import Any

import numpy as np

from napari_crant._qt.qc.em_layers import drawn_plane_z, ray_meets_plane


class SegmentPicking:
    """Root picking of :class:`~napari_crant._qt.qc.em_panel.EMPanel` (a mixin: it uses the panel's
    ``shown`` tissue, ``review``, ``session``, ``section``, ``show_em``, ``load_button`` and
    ``_set_status``)."""

    #: the root last picked with a click (``None``: none)
    picked_root: int | None = None

    def pick(self, world_position: Any) -> int | None:
        """The root at a world position of the EM shown (``None``: outside the cutout); shown."""
        tissue = self.shown
        if tissue is None:
            return None
        root = tissue.root_at(world_position)
        if root is None:
            return None
        viewer = self.session.viewer
        if root == 0:
            self.picked_root = None
            self.load_button.setEnabled(False)
            text = "No segment there (extracellular space or unsegmented)."
        else:
            self.picked_root = root
            self.load_button.setEnabled(True)
            self.load_button.setText(f"load {root} (l)")
            text = f"Segment {root} (root at {self._timestamp_text()})."
        self._set_status(text)
        if viewer is not None:
            viewer.status = text
        return root

    def _timestamp_text(self) -> str:
        mat = self.review.materialization
        return "the session's timestamp" if mat is None else f"materialization {mat}"

    def _on_click(self, viewer: Any, event: Any) -> None:
        if self.shown is None or not self.show_em.isChecked():
            return
        position = np.asarray(event.position, np.float64)
        if viewer.dims.ndisplay == 3:
            position = self._on_plane(position, event.view_direction)
            if position is None:
                return
        self.pick(position)

    def _on_plane(self, position: np.ndarray, direction: Any) -> np.ndarray | None:
        """Where the view ray through ``position`` meets the EM plane (3D), in world (z, y, x)."""
        tissue = self.shown
        if tissue is None:
            return None
        z = float(tissue.section_z()[self.section.value()])
        hit = ray_meets_plane(position, direction, drawn_plane_z(tissue, z))
        if hit is not None:
            hit[0] = z  # the point drawn there belongs to the section shown
        return hit

    def load_picked(self) -> bool:
        """Ask the query dock to load the root picked last; whether there was one."""
        if self.picked_root is None:
            self._set_status("Click a segment in the EM first.")
            return False
        self.session.load_requested.emit(np.array([self.picked_root], np.uint64))
        self._set_status(f"Loading {self.picked_root} in the query dock…")
        return True

    def _forget_pick(self) -> None:
        self.picked_root = None
        self.load_button.setEnabled(False)
        self.load_button.setText("load segment (l)")
