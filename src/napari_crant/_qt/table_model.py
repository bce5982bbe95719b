"""A read-only Qt table model over a pandas DataFrame that never turns IDs into floats."""

from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt

#: role whose data the proxy sorts by (numbers as float, IDs as zero-padded text)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


def _is_id_column(name: str, dtype: Any) -> bool:
    return dtype == np.uint64 or name.endswith("_id") or name in ("pre", "post")


class DataFrameModel(QAbstractTableModel):
    """Show a DataFrame in a ``QTableView``.

    uint64 columns (and columns named ``*_id``) are shown as exact decimal strings and
    sorted as zero-padded strings; Qt's variant conversion would otherwise round them
    through ``double``. Floats are shown with ``float_format``.

    Parameters
    ----------
    df
        The table; set a new one with :meth:`set_frame`.
    float_format
        Format of float cells.
    """

    def __init__(self, df: pd.DataFrame | None = None, float_format: str = "{:.1f}", parent=None):
        super().__init__(parent)
        self._df = pd.DataFrame()
        self._text: list[np.ndarray] = []
        self._sort: list[np.ndarray] = []
        self.float_format = float_format
        self.set_frame(df if df is not None else pd.DataFrame())

    @property
    def frame(self) -> pd.DataFrame:
        """The DataFrame shown."""
        return self._df

    def set_frame(self, df: pd.DataFrame) -> None:
        """Show ``df`` instead (resets views)."""
        self.beginResetModel()
        self._df = df.reset_index(drop=True)
        self._text, self._sort = [], []
        for name in self._df.columns:
            col = self._df[name]
            if _is_id_column(str(name), col.dtype) and col.dtype.kind in "ui":
                ints = col.to_numpy(np.uint64)
                text = np.array([str(int(v)) for v in ints], dtype=object)
                sort = np.array([f"{int(v):020d}" for v in ints], dtype=object)
            elif col.dtype.kind == "f":
                vals = col.to_numpy(np.float64)
                text = np.array(["" if np.isnan(v) else self.float_format.format(v) for v in vals], object)
                sort = np.where(np.isnan(vals), -np.inf, vals).astype(object)
            elif col.dtype.kind in "iub":
                vals = col.to_numpy()
                text = np.array([str(v) for v in vals], dtype=object)
                sort = vals.astype(np.float64).astype(object)
            else:
                text = np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                                 for v in col.to_numpy(object)], dtype=object)
                sort = text
            self._text.append(text)
            self._sort.append(sort)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._df)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._df.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._text[c][r]
        if role == SORT_ROLE:
            return self._sort[c][r]
        if role == Qt.ItemDataRole.TextAlignmentRole and self._df.dtypes.iloc[c].kind in "iuf":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def is_numeric(self, column: int) -> bool:
        """Whether a column holds quantities (numbers that are not IDs)."""
        name, dtype = str(self._df.columns[column]), self._df.dtypes.iloc[column]
        return dtype.kind in "iuf" and not _is_id_column(name, dtype)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.InitialSortOrderRole and orientation == Qt.Orientation.Horizontal:
            # the first click on a quantity (weight, percent, counts) shows the largest first
            numeric = 0 <= section < len(self._df.columns) and self.is_numeric(section)
            order = Qt.SortOrder.DescendingOrder if numeric else Qt.SortOrder.AscendingOrder
            return getattr(order, "value", order)  # an int, as Qt reads this role
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self._df.columns[section])
        return str(section + 1)


class SortFilterProxy(QSortFilterProxyModel):
    """Sorts by :data:`SORT_ROLE`; filters rows on a case-insensitive text over all columns."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
