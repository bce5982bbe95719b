"""The partner table dock: upstream and downstream partners of the loaded neurons."""

from collections.abc import Sequence
from typing import Any

import napari
import numpy as np
import pandas as pd
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QModelIndex, Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.elided_label import ElidedLabel
from napari_crant._qt.qc_state import qc_state, with_qc_weights
from napari_crant._qt.session import find_layers, get_session
from napari_crant._qt.table_model import DataFrameModel, SortFilterProxy
from napari_crant._qt.utils import fill_neuron_combo, is_alive, select_combo_data
from napari_crant.export_formats import TABLE_FORMATS, ExportError, export_kind, file_dialog_filter
from napari_crant.scene.tables import export_table

ALL = "all loaded neurons"
#: columns shown first, in this order (the weights right after the partner: in a dock ~440 px
#: wide the columns after the ID are cut at the edge); ``model.frame`` keeps the frame's order
LEAD_COLUMNS = ("direction", "partner_id", "weight", "weight_qc", "percent")
#: which loaded neuron a row belongs to: right after :data:`LEAD_COLUMNS` when the rows are of
#: several neurons (a row's ``percent`` is a share of that neuron's synapses), before the partner's
#: annotations; last when they are of one (the same ID in every row, named by the neuron box).
#: Not first: in a dock ~440 px wide (a 407 px viewport) the two 145 px IDs and ``direction``
#: leave 28 px, and the right-aligned weight is cut away
NEURON_COLUMN = "neuron_id"


def view_columns(columns: Sequence[str], several_neurons: bool) -> list[str]:
    """The partner table's columns in the order the view shows them (and exports write them).

    Parameters
    ----------
    columns
        The frame's columns.
    several_neurons
        Whether the rows belong to more than one loaded neuron.

    Returns
    -------
    list of str
        :data:`LEAD_COLUMNS`, then :data:`NEURON_COLUMN` if ``several_neurons``, then the
        others in the frame's order (then :data:`NEURON_COLUMN` if not ``several_neurons``).
    """
    names = [str(c) for c in columns]
    lead = [c for c in LEAD_COLUMNS if c in names]
    rest = [c for c in names if c not in lead and c != NEURON_COLUMN]
    if NEURON_COLUMN not in names:
        return lead + rest
    return [*lead, NEURON_COLUMN, *rest] if several_neurons else [*lead, *rest, NEURON_COLUMN]


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
        # no row numbers: the rows are ranked by the sorted column, and in a dock ~440 px wide the
        # numbers' 35-45 px cut the percent column at the edge
        self.table.verticalHeader().setVisible(False)
        self.proxy.sort(-1)  # source order (heaviest first) until the user clicks a header
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.summary = ElidedLabel("Load neurons to see their partners.")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("the rows shown: " + ", ".join(TABLE_FORMATS.values()))

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
        self.filter.textChanged.connect(self._on_filter)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(self._on_double_click)
        self.export_button.clicked.connect(self._on_export)
        self.session.changed.connect(self._on_scene_changed)
        self.session.model.selected_changed.connect(self.select_neuron)
        # synapse QC verdicts: weight_qc counts only synapses not marked false positive / wrong partner
        self._qc = qc_state(self.session)
        self._qc.changed.connect(self._on_qc_changed)
        self._watched: set[int] = set()
        napari_viewer.layers.events.inserted.connect(self._watch_synapse_layers)
        self._watch_synapse_layers()
        self._on_scene_changed()

    # -- contents -----------------------------------------------------------------------------
    def _on_scene_changed(self) -> None:
        if not is_alive(self):
            return
        fill_neuron_combo(self.neuron, self.session.scene, first=(ALL, None))
        self.refresh()

    def select_neuron(self, root: int | None) -> None:
        """Show the partners of this neuron (selected on the canvas or in another dock)."""
        if is_alive(self) and root is not None and select_combo_data(self.neuron, root):
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
        df = df.reset_index(drop=True)
        if self._qc.rejected:
            df = with_qc_weights(df, self.session.scene.synapses(), self._qc.rejected)
        return df

    def _on_qc_changed(self) -> None:
        if is_alive(self):
            self.refresh()

    def refresh(self) -> None:
        """Re-read the partner rows from the session."""
        df = self.frame()
        self.model.set_frame(df)
        self._lead_columns()
        self.table.resizeColumnsToContents()
        self.update_summary()

    def columns_shown(self) -> list[str]:
        """The columns in the view's order (:func:`view_columns`)."""
        df = self.model.frame
        several = NEURON_COLUMN in df and len(np.unique(df[NEURON_COLUMN].to_numpy(np.uint64))) > 1
        return view_columns(df.columns, several)

    def _lead_columns(self) -> None:
        """Put the header's sections in :meth:`columns_shown` order (the model's columns stay)."""
        header = self.table.horizontalHeader()
        names = [str(c) for c in self.model.frame.columns]
        for target, name in enumerate(self.columns_shown()):  # every section: any previous order
            header.moveSection(header.visualIndex(names.index(name)), target)

    def _on_filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self.update_summary()

    def shown_rows(self) -> pd.DataFrame:
        """The rows the table shows (after the text filter), rows and columns in view order."""
        rows = [self.proxy.mapToSource(self.proxy.index(r, 0)).row() for r in range(self.proxy.rowCount())]
        df = self.model.frame
        if df.columns.empty:
            return df
        return df.iloc[rows][self.columns_shown()].reset_index(drop=True)

    def update_summary(self) -> None:
        """Count the rows and synapses the table shows (the text filter applied)."""
        df = self.model.frame
        if df.empty:
            self.summary.setText("No partners." if self.session.scene.neurons
                                 else "Load neurons to see their partners.")
            return
        shown = self.shown_rows()
        up = int((shown["direction"] == "upstream").sum())
        down = int((shown["direction"] == "downstream").sum())
        text = f"{up} upstream, {down} downstream partner rows ({int(shown['weight'].sum())} synapses"
        if "weight_qc" in shown:
            text += f"; {int(shown['weight_qc'].sum())} after QC"
        text += ")"
        if len(shown) < len(df):
            text += f", {len(shown)} of {len(df)} rows match the filter"
        self.summary.setText(text)

    def selected_rows(self) -> pd.DataFrame:
        """Rows of the shown frame selected in the table."""
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()})
        return self.model.frame.iloc[rows]

    # -- canvas -> table ----------------------------------------------------------------------
    def _watch_synapse_layers(self, *_: Any) -> None:
        """Follow point selections in the synapse layers (select their partners' rows)."""
        if not is_alive(self):
            return
        for kind in ("pre", "post"):
            for layer in find_layers(self.viewer, kind):  # one per batch of loaded neurons
                if id(layer) in self._watched:
                    continue
                self._watched.add(id(layer))

                def on_selected(*_: Any, layer: Any = layer, kind: str = kind) -> None:
                    if is_alive(self):
                        self.select_from_points(layer, kind)

                layer.selected_data.events.items_changed.connect(on_selected)

    def select_from_points(self, layer: Any, kind: str) -> None:
        """Select the table rows of the partners of the points selected in ``layer``."""
        idx = sorted(layer.selected_data)
        if not idx:
            return
        feats = layer.features.iloc[idx]
        direction = "downstream" if kind == "pre" else "upstream"
        pairs = set(zip(feats["root_id"], feats["partner_id"], strict=True))
        df = self.model.frame
        if df.empty:
            return
        keys = zip(df["neuron_id"].map(str), df["partner_id"].map(str), df["direction"], strict=True)
        rows = [i for i, (n, p, d) in enumerate(keys) if d == direction and (n, p) in pairs]
        sel = self.table.selectionModel()
        sel.clearSelection()
        for r in rows:
            index = self.proxy.mapFromSource(self.model.index(r, 0))
            if index.isValid():
                sel.select(index, sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
                self.table.scrollTo(index)

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
        if len(self.session.load_requested) == 0:
            show_info("Open the 'Query neurons' dock (Plugins > CRANTb connectome) to load partners.")
            return
        self.session.load_requested.emit(np.array([partner], np.uint64))

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export partners", "partners.csv",
                                              file_dialog_filter(TABLE_FORMATS))
        if not path:
            return
        try:
            self.export(path)
        except (ExportError, OSError) as e:  # a message, not a traceback
            self.summary.setText(str(e))
            show_error(str(e))

    def export(self, path: Any) -> None:
        """Write the shown rows (after filtering; rows and columns in view order) with provenance.

        Raises
        ------
        napari_crant.export_formats.ExportError
            ``path`` is not ``.csv`` or ``.parquet`` (the message lists the formats).
        """
        export_kind(path, TABLE_FORMATS)
        export_table(self.shown_rows(), path, self.session.scene.provenance)
