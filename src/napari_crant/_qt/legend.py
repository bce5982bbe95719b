"""The neuron legend dock: colour, ID, cell type, shown/hidden and solo of every loaded neuron.

A view of the session's :class:`~napari_crant.scene.scene_model.SceneModel`: ticking *shown*
or *solo* changes the model, which the session applies to the layers; a click on a row selects
the neuron everywhere (as a click on its skeleton does).
"""

from typing import Any

import napari
from qtpy.QtCore import Qt
from qtpy.QtGui import QBrush, QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.session import get_session
from napari_crant._qt.utils import is_alive

#: the toggles come first: they stay visible in a narrow dock
COLUMNS = ("", "shown", "solo", "cell type", "root ID")
SWATCH, SHOWN, SOLO, CELL_TYPE, ROOT = range(len(COLUMNS))


class LegendWidget(QWidget):
    """One row per loaded neuron; toggles and solo drive the session's scene model.

    Parameters
    ----------
    napari_viewer
        Injected by napari.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.session = get_session(napari_viewer)
        self.model = self.session.model
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.summary = QLabel("Load neurons to list them here.")
        self.summary.setWordWrap(True)
        self.show_all_button = QPushButton("Show all")
        self.show_all_button.setToolTip("show every neuron and end the solo")
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.show_all_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self._filling = False
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.show_all_button.clicked.connect(self.show_all)
        self.model.entries_changed.connect(self.refresh)
        self.model.visibility_changed.connect(self._render_checks)
        self.model.selected_changed.connect(self._render_selection)
        self.refresh()

    # -- rendering -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the rows from the model."""
        if not is_alive(self):
            return
        entries = self.model.entries
        self._filling = True
        try:
            self.table.setRowCount(len(entries))
            for row, e in enumerate(entries):
                swatch = QTableWidgetItem("")
                swatch.setBackground(QBrush(QColor.fromRgbF(*e.color)))
                swatch.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                self.table.setItem(row, SWATCH, swatch)
                root = QTableWidgetItem(str(e.root_id))
                root.setData(Qt.ItemDataRole.UserRole, str(e.root_id))
                self.table.setItem(row, ROOT, root)
                cell_type = QTableWidgetItem(e.cell_type or "—")
                cell_type.setToolTip(e.cell_type or "no cell type annotated")
                self.table.setItem(row, CELL_TYPE, cell_type)
                for col in (SHOWN, SOLO):
                    item = QTableWidgetItem("")
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable
                                  | Qt.ItemFlag.ItemIsSelectable)
                    self.table.setItem(row, col, item)
            self._render_checks()
        finally:
            self._filling = False
        n = len(entries)
        self.summary.setText(f"{n} neuron{'s' if n != 1 else ''} loaded." if n
                             else "Load neurons to list them here.")
        self._render_selection(self.model.selected)

    def _render_checks(self) -> None:
        if not is_alive(self):
            return
        filling, self._filling = self._filling, True
        try:
            for row, e in enumerate(self.model.entries):
                checked = {SHOWN: e.visible, SOLO: self.model.solo == e.root_id}
                for col, on in checked.items():
                    item = self.table.item(row, col)
                    if item is not None:
                        item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        finally:
            self._filling = filling

    def _render_selection(self, root: Any) -> None:
        if not is_alive(self):
            return
        row = self.row_of(root) if root is not None else -1
        self.table.blockSignals(True)
        try:
            if row < 0:
                self.table.clearSelection()
            else:
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, ROOT))
        finally:
            self.table.blockSignals(False)

    # -- input ---------------------------------------------------------------------------
    def row_of(self, root: int) -> int:
        """The row of a neuron (``-1`` if not listed)."""
        for row in range(self.table.rowCount()):
            item = self.table.item(row, ROOT)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == str(int(root)):
                return row
        return -1

    def _root_at(self, row: int) -> int:
        return int(self.table.item(row, ROOT).data(Qt.ItemDataRole.UserRole))

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        root = self._root_at(item.row())
        checked = item.checkState() == Qt.CheckState.Checked
        if item.column() == SHOWN:
            self.model.set_visible(root, checked)
        elif item.column() == SOLO and checked != (self.model.solo == root):
            self.model.toggle_solo(root)

    def _on_row_selected(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if len(rows) == 1:
            self.model.select(self._root_at(rows.pop()))

    def show_all(self) -> None:
        """Show every neuron and end the solo."""
        self.model.show_all()
