"""Export and import of verdicts (CSV or Parquet with provenance), as two buttons of the Review tab."""

from collections.abc import Callable
from typing import Any

from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QWidget

from napari_crant.qc.review import ReviewModel
from napari_crant.qc.verdicts import VerdictError


class VerdictFiles(QWidget):
    """*Export…* and *Import…* of the verdict database.

    Parameters
    ----------
    review
        The review (its store, and its dataset: what is exported; reloaded after an import).
    message
        Shows a line at the bottom of the dock: ``message(text, error)``.
    store_error
        Why there is no verdict database (``None`` if there is one).
    """

    #: verdicts were imported (the rejected synapses may differ)
    imported = Signal()

    def __init__(self, review: ReviewModel, message: Callable[..., None], store_error: str | None = None):
        super().__init__()
        self.review = review
        self.message = message
        self.store_error = store_error
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("all verdicts of this dataset to CSV or Parquet")
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("verdicts exported by napari-crant (all or nothing)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.export_button)
        row.addWidget(self.import_button)
        self.export_button.clicked.connect(self._on_export)
        self.import_button.clicked.connect(self._on_import)

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export verdicts", "verdicts.csv",
                                              "CSV (*.csv);;Parquet (*.parquet)")
        if path:
            self.export(path)

    def export(self, path: Any) -> bool:
        """Write this dataset's verdicts (all datasets if none is open) to CSV or Parquet."""
        if self.review.store is None:
            self.message(self.store_error or "No verdict database.", error=True)
            return False
        try:
            out = self.review.store.export(path, dataset=self.review.dataset_name or None)
        except (VerdictError, OSError) as e:
            self.message(f"Not exported: {e}", error=True)
            return False
        self.message(f"Exported verdicts to {out}.")
        return True

    def _on_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import verdicts", "",
                                              "Verdicts (*.csv *.parquet);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: Any) -> bool:
        """Import exported verdicts: all rows or, on any problem, none (the error is shown)."""
        if self.review.store is None:
            self.message(self.store_error or "No verdict database.", error=True)
            return False
        try:
            n = self.review.store.import_file(path)
        except VerdictError as e:
            self.message(f"Nothing imported: {e}", error=True)
            show_error(f"napari-crant: nothing imported: {e}")
            return False
        self.message(f"Imported {n} verdict{'s' if n != 1 else ''}.")
        show_info(f"napari-crant: imported {n} verdicts")
        self.review.reload_verdicts()
        self.imported.emit()
        return True
