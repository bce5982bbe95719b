"""The partner table dock: upstream and downstream partners of the loaded neurons."""

from typing import Any

import napari
import numpy as np
import pandas as pd
from qtpy.QtCore import QModelIndex
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.session import get_session
from napari_crant._qt.table_model import DataFrameModel, SortFilterProxy
from napari_crant.layers import export_table

ALL = "all loaded neurons"


class PartnerWidget(QWidget):
    """Partners of the loaded neurons: select rows to highlight their synapses, double-click to load.

    Parameters
    ----------
    napari_viewer
        Injected by napari.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.session = get_session(napari_viewer)
        self.neuron = QComboBox()
        self.neuron.setToolTip("whose partners to list")
        self.direction = QComboBox()
        self.direction.addItems(["both", "upstream", "downstream"])
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter (any column)…")
        self.model = DataFrameModel(float_format="{:.2f}")
        self.proxy = SortFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.summary = QLabel("Load neurons to see their partners.")
        self.summary.setWordWrap(True)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("CSV (provenance in # header lines) or Parquet (schema metadata)")

        top = QHBoxLayout()
        top.addWidget(self.neuron, 2)
        top.addWidget(self.direction, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        self.neuron.currentIndexChanged.connect(self.refresh)
        self.direction.currentIndexChanged.connect(self.refresh)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(self._on_double_click)
        self.export_button.clicked.connect(self._on_export)
        self.session.changed.connect(self._on_scene_changed)
        self._on_scene_changed()

    # -- contents -----------------------------------------------------------------------------
    def _on_scene_changed(self) -> None:
        scene = self.session.scene
        current = self.neuron.currentData()
        self.neuron.blockSignals(True)
        self.neuron.clear()
        self.neuron.addItem(ALL, None)
        for root in scene.neurons:
            self.neuron.addItem(f"{scene.label_of(root)} ({root})" if scene.label_of(root) != str(root)
                                else str(root), str(root))
        idx = self.neuron.findData(current) if current is not None else 0
        self.neuron.setCurrentIndex(max(idx, 0))
        self.neuron.blockSignals(False)
        self.refresh()

    def frame(self) -> pd.DataFrame:
        """The partner rows shown (before the text filter), per the neuron and direction boxes."""
        df = self.session.scene.partners
        if df.empty:
            return df
        who = self.neuron.currentData()
        if who is not None:
            df = df[df["neuron_id"].to_numpy(np.uint64) == np.uint64(int(who))]
        direction = self.direction.currentText()
        if direction != "both":
            df = df[df["direction"].to_numpy() == direction]
        return df.reset_index(drop=True)

    def refresh(self) -> None:
        """Re-read the partner rows from the session."""
        df = self.frame()
        self.model.set_frame(df)
        self.table.resizeColumnsToContents()
        if df.empty:
            self.summary.setText("No partners." if self.session.scene.neurons
                                 else "Load neurons to see their partners.")
            return
        up = int((df["direction"] == "upstream").sum())
        down = int((df["direction"] == "downstream").sum())
        self.summary.setText(f"{up} upstream, {down} downstream partner rows "
                             f"({int(df['weight'].sum())} synapses)")

    def selected_rows(self) -> pd.DataFrame:
        """Rows of the shown frame selected in the table."""
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()})
        return self.model.frame.iloc[rows]

    # -- interactions ----------------------------------------------------------------------------
    def _on_selection(self, *_: Any) -> None:
        rows = self.selected_rows()
        self.session.highlight(self.session.scene.synapses_with_partners(rows) if len(rows)
                               else np.array([], np.uint64))

    def _on_double_click(self, index: QModelIndex) -> None:
        row = self.model.frame.iloc[self.proxy.mapToSource(index).row()]
        partner = np.uint64(row["partner_id"])
        if int(partner) in self.session.scene.neurons:
            return
        self.session.load_requested.emit(np.array([partner], np.uint64))

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export partners", "partners.csv",
                                              "CSV (*.csv);;Parquet (*.parquet)")
        if path:
            self.export(path)

    def export(self, path: Any) -> None:
        """Write the shown rows (after filtering, in view order) with provenance."""
        rows = [self.proxy.mapToSource(self.proxy.index(r, 0)).row() for r in range(self.proxy.rowCount())]
        export_table(self.model.frame.iloc[rows].reset_index(drop=True), path,
                     self.session.scene.provenance)
