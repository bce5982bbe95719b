"""The review list as a Qt table model: the shown synapses of a review, updated row by row.

A verdict changes one row (``dataChanged``), or removes / inserts it when only unreviewed
synapses are shown; the table is reset only when the chosen set or the filter changes.
IDs are shown as exact decimal text (never through ``double``).
"""

from typing import Any

import numpy as np
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt

from napari_crant.qc.review import ReviewModel

#: header -> how a cell is shown from an items row
COLUMNS = ("#", "verdict", "synapse_id", "type", "partner_id", "size", "distance", "reason")
_RIGHT = {"#", "synapse_id", "partner_id", "size", "distance"}


def _cell(column: str, item: int, value: Any) -> str:
    if column == "#":
        return str(item + 1)
    if column in ("synapse_id", "partner_id", "size"):
        return str(int(value))
    if column == "distance":
        return "" if np.isnan(value) else f"{float(value):.0f}"
    return value if isinstance(value, str) else ""


class ReviewTableModel(QAbstractTableModel):
    """The rows of :meth:`ReviewModel.visible_rows`, following the model's signals.

    Parameters
    ----------
    review
        The review model shown.
    """

    def __init__(self, review: ReviewModel, parent: Any = None):
        super().__init__(parent)
        self.review = review
        #: items indices shown, in row order (a copy: compared with the model's after a verdict)
        self.rows = np.zeros(0, np.int64)
        #: the shown columns of the items as arrays (a repaint reads hundreds of cells: no
        #: DataFrame lookup per cell); the verdict column is refreshed by a verdict
        self._columns: dict[str, np.ndarray] = {}
        self.reset()
        review.items_changed.connect(self.reset)
        review.filter_changed.connect(self.reset)
        review.verdict_changed.connect(self.on_verdict)

    def disconnect_review(self) -> None:
        """Stop following the review model."""
        self.review.items_changed.disconnect(self.reset)
        self.review.filter_changed.disconnect(self.reset)
        self.review.verdict_changed.disconnect(self.on_verdict)

    def reset(self, *_: Any) -> None:
        """Show the review's rows anew (a new set or filter)."""
        self.beginResetModel()
        self.rows = np.array(self.review.visible_rows(), np.int64)
        items = self.review.items
        self._columns = {c: items[c].to_numpy(copy=True) for c in COLUMNS if c in items.columns}
        self.endResetModel()

    def on_verdict(self, index: int) -> None:
        """Item ``index`` got a new verdict: update, remove or insert only its row."""
        verdicts = self._columns.get("verdict")
        if verdicts is not None and 0 <= index < len(verdicts):
            verdicts[index] = self.review.items["verdict"].iat[index]
        new = self.review.visible_rows()
        before = np.flatnonzero(self.rows == index)
        after = np.flatnonzero(new == index)
        if len(before) and len(after):
            r = int(before[0])
            self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))
        elif len(before):
            r = int(before[0])
            self.beginRemoveRows(QModelIndex(), r, r)
            self.rows = np.delete(self.rows, r)
            self.endRemoveRows()
        elif len(after):
            r = int(after[0])
            self.beginInsertRows(QModelIndex(), r, r)
            self.rows = np.insert(self.rows, r, index)
            self.endInsertRows()

    def position_of(self, index: int | None) -> int | None:
        """The table row of item ``index`` (``None`` if it is not shown)."""
        if index is None:
            return None
        hit = np.flatnonzero(self.rows == index)
        return int(hit[0]) if len(hit) else None

    def item_at(self, row: int) -> int | None:
        """The item index of table row ``row``."""
        return int(self.rows[row]) if 0 <= row < len(self.rows) else None

    def text(self, row: int, column: str) -> str:
        """The text of a cell, by column name."""
        return self.data(self.index(row, COLUMNS.index(column)))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        column = COLUMNS[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            item = int(self.rows[index.row()])
            values = self._columns.get(column)
            value = None if values is None or item >= len(values) else values[item]
            return _cell(column, item, value)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _RIGHT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return COLUMNS[section] if orientation == Qt.Orientation.Horizontal else str(section + 1)
