"""The adjacency dock: synapse counts between the loaded neurons as a heatmap."""

from typing import Any

import napari
import numpy as np
import pandas as pd
from napari.qt.threading import create_worker
from qtpy.QtCore import QAbstractTableModel, QItemSelectionModel, QModelIndex, Qt
from qtpy.QtGui import QBrush, QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.session import get_session
from napari_crant._qt.utils import is_alive
from napari_crant.view.tables import adjacency_labels, join_annotations

ORDERS = ("cell type", "loaded order", "root ID")


def _adjacency_worker(roots: np.ndarray, kwargs: dict[str, Any]) -> pd.DataFrame:
    from napari_crant.queries.adjacency import get_adjacency

    return get_adjacency(roots, roots, symmetric=True, threshold=kwargs["threshold"],
                         min_size=kwargs["min_size"], materialization=kwargs["materialization"],
                         clean=kwargs["clean"], update_ids=False, dataset=kwargs["dataset"])


def order_adjacency(adj: pd.DataFrame, annotations: pd.DataFrame, order: str,
                    loaded: np.ndarray | None = None) -> pd.DataFrame:
    """Reorder a square adjacency matrix's rows and columns together.

    ``'cell type'``: by cell type (unknown last), then ID; ``'root ID'``; ``'loaded order'``.
    """
    ids = adj.index.to_numpy(np.uint64)
    if order == "cell type":
        ann = join_annotations(pd.DataFrame({"root_id": ids}), "root_id", annotations)
        ct = ann["cell_type"] if "cell_type" in ann else pd.Series([None] * len(ids))
        keys = [(0, str(c), int(i)) if isinstance(c, str) and c else (1, "", int(i))
                for c, i in zip(ct, ids, strict=True)]
        perm = sorted(range(len(ids)), key=keys.__getitem__)
    elif order == "loaded order" and loaded is not None:
        pos = {int(r): k for k, r in enumerate(loaded)}
        perm = sorted(range(len(ids)), key=lambda k: (pos.get(int(ids[k]), len(pos)), int(ids[k])))
    else:
        perm = list(np.argsort(ids, kind="stable"))
    new = ids[perm]
    # symmetric matrix: the columns hold the same IDs
    col_perm = np.searchsorted(adj.columns.to_numpy(np.uint64), new, sorter=np.argsort(
        adj.columns.to_numpy(np.uint64)))
    col_perm = np.argsort(adj.columns.to_numpy(np.uint64))[col_perm]
    out = pd.DataFrame(adj.to_numpy()[np.ix_(perm, col_perm)],
                       index=pd.Index(new, dtype=np.uint64, name="pre"),
                       columns=pd.Index(new, dtype=np.uint64, name="post"))
    out.attrs = adj.attrs
    return out


class HeatmapModel(QAbstractTableModel):
    """Counts of a DataFrame with white -> red background by value; labels from ``set_matrix``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrix = pd.DataFrame()
        self.row_labels: list[str] = []
        self.col_labels: list[str] = []
        self._values = np.zeros((0, 0), np.int64)
        self._max = 1

    def set_matrix(self, matrix: pd.DataFrame, row_labels: list[str], col_labels: list[str]) -> None:
        """Show ``matrix`` with these header labels."""
        self.beginResetModel()
        self.matrix = matrix
        self._values = matrix.to_numpy(np.int64)
        self._max = max(int(self._values.max()) if self._values.size else 1, 1)
        self.row_labels, self.col_labels = row_labels, col_labels
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._values.shape[0]

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._values.shape[1]

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        v = int(self._values[index.row(), index.column()])
        if role == Qt.ItemDataRole.DisplayRole:
            return str(v) if v else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{self.row_labels[index.row()]} → {self.col_labels[index.column()]}: {v} synapses"
        if role == Qt.ItemDataRole.BackgroundRole:
            t = np.sqrt(v / self._max) if v else 0.0
            return QBrush(QColor(int(255 - 40 * t), int(255 - 215 * t), int(255 - 215 * t)))
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor("white" if v and np.sqrt(v / self._max) > 0.6 else "black"))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole:
            ids = self.matrix.columns if orientation == Qt.Orientation.Horizontal else self.matrix.index
            return str(int(np.asarray(ids, dtype=np.uint64)[section])) if section < len(ids) else None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        labels = self.col_labels if orientation == Qt.Orientation.Horizontal else self.row_labels
        return labels[section] if section < len(labels) else None


class AdjacencyWidget(QWidget):
    """Synapse counts between the loaded neurons (rows: presynaptic, columns: postsynaptic).

    Click a cell to highlight those synapses on the canvas.

    Parameters
    ----------
    napari_viewer
        Injected by napari.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.session = get_session(napari_viewer)
        self.worker: Any = None
        self.adjacency = pd.DataFrame()
        self.order = QComboBox()
        self.order.addItems(list(ORDERS))
        self.refresh_button = QPushButton("Refresh")
        self.model = HeatmapModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setDefaultSectionSize(56)
        self.summary = QLabel("Load neurons to see their adjacency.")
        self.summary.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("sort by"))
        top.addWidget(self.order, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        self.order.currentIndexChanged.connect(self.show_matrix)
        self.refresh_button.clicked.connect(self.compute)
        self.table.clicked.connect(self._on_click)
        self.session.changed.connect(self.compute)
        self.session.model.selected_changed.connect(self.select_neuron)
        if self.session.scene.neurons:
            self.compute()

    def compute(self) -> Any:
        """Query the adjacency of the loaded neurons in a worker; returns it (or ``None``)."""
        if not is_alive(self):
            return None
        roots = self.session.scene.root_ids
        if len(roots) == 0:
            self.adjacency = pd.DataFrame()
            self.model.set_matrix(pd.DataFrame(), [], [])
            self.summary.setText("Load neurons to see their adjacency.")
            return None
        if self.worker is not None:
            self.worker.quit()
        self.summary.setText("Computing…")
        kwargs = self.session.params.load_kwargs()
        prov = self.session.scene.provenance
        if prov.get("materialization_version") is not None:
            kwargs["materialization"] = int(prov["materialization_version"])
        elif prov.get("timestamp"):
            kwargs["materialization"] = prov["timestamp"]
        worker = create_worker(_adjacency_worker, roots, kwargs, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(lambda e: is_alive(self) and self.summary.setText(f"Adjacency failed: {e}"))
        worker.finished.connect(lambda: setattr(self, "worker", None) if self.worker is worker else None)
        self.worker = worker
        worker.start()
        return worker

    def _on_returned(self, adj: pd.DataFrame) -> None:
        if not is_alive(self):
            return
        self.adjacency = adj
        self.show_matrix()

    def show_matrix(self) -> None:
        """Show the last adjacency in the chosen order."""
        if self.adjacency.empty:
            return
        ann = self.session.scene.annotations
        m = order_adjacency(self.adjacency, ann, self.order.currentText(), self.session.scene.root_ids)
        rows, cols = adjacency_labels(m, ann)
        self.model.set_matrix(m, rows, cols)
        self.select_neuron(self.session.model.selected)  # a reset clears the row selection
        n = int(m.to_numpy().sum())
        self.summary.setText(f"Rows: presynaptic, columns: postsynaptic. {len(m)} neurons, {n} synapses "
                             f"among them (version {m.attrs.get('materialization_version')}). "
                             "Click a cell to highlight its synapses.")

    def select_neuron(self, root: int | None) -> None:
        """Select the row (presynaptic side) of this neuron (selected on the canvas or elsewhere)."""
        if not is_alive(self) or root is None or self.model.matrix.empty:
            return
        rows = np.flatnonzero(self.model.matrix.index.to_numpy(np.uint64) == np.uint64(int(root)))
        if len(rows):
            index = self.model.index(int(rows[0]), 0)
            flags = QItemSelectionModel.SelectionFlag
            self.table.selectionModel().select(index, flags.ClearAndSelect | flags.Rows)
            self.table.scrollTo(index)

    def _on_click(self, index: QModelIndex) -> None:
        m = self.model.matrix
        pre = m.index.to_numpy(np.uint64)[index.row()]
        post = m.columns.to_numpy(np.uint64)[index.column()]
        ids = self.session.scene.synapses_between(int(pre), int(post))
        self.session.highlight(ids)
        self.summary.setText(f"{len(ids)} synapses {pre} → {post} highlighted.")
