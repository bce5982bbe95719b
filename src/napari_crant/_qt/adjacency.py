"""The adjacency dock: synapse counts between the loaded neurons as a heat map."""

from typing import Any

import napari
import numpy as np
import pandas as pd
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from napari_crant._qt.elided_label import ElidedLabel
from napari_crant._qt.heatmap import MIN_SIZE, HeatmapCanvas
from napari_crant._qt.session import get_session
from napari_crant._qt.utils import is_alive
from napari_crant.adjacency_view import ORDERS, SCALES, VIEWS, HeatmapData, cell_types, heatmap_data
from napari_crant.export_formats import (
    IMAGE_FORMATS,
    TABLE_FORMATS,
    ExportError,
    export_kind,
    file_dialog_filter,
)

EXPORT_FORMATS = {**TABLE_FORMATS, **IMAGE_FORMATS}
ZOOMS = ("fit", "labels")


def _adjacency_worker(roots: np.ndarray, kwargs: dict[str, Any]) -> pd.DataFrame:
    import scipy.cluster.hierarchy  # noqa: F401  (warm the import used by 'clustering')

    from napari_crant.queries.adjacency import get_adjacency

    return get_adjacency(roots, roots, symmetric=True, threshold=kwargs["threshold"],
                         min_size=kwargs["min_size"], materialization=kwargs["materialization"],
                         clean=kwargs["clean"], update_ids=False, dataset=kwargs["dataset"])


def _theme_colors(viewer: Any) -> dict[str, tuple[int, int, int]]:
    """The viewer theme's colours as RGB tuples (napari-matplotlib uses the same theme keys)."""
    from napari.utils.theme import get_theme

    theme = get_theme(getattr(viewer, "theme", "dark"))
    out = {}
    for key in ("background", "text", "secondary", "current"):
        rgb = getattr(theme, key).as_rgb_tuple()
        out[key] = tuple(int(v) for v in rgb[:3])
    return out


class AdjacencyWidget(QWidget):
    """Synapse counts between the loaded neurons as a heat map (rows presynaptic, columns postsynaptic).

    Hover a cell for pre, post and the count; click a cell to highlight those synapses on the
    canvas (in the cell-type view: the synapses of every pair of those types).

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
        self.data: HeatmapData | None = None
        self.view = QComboBox()
        self.view.addItems(list(VIEWS))
        self.view.setToolTip("one row per neuron, or synapses summed per (pre cell type, post cell type)")
        self.order = QComboBox()
        self.order.addItems(list(ORDERS))
        self.order.setToolTip("clustering: hierarchical clustering of inputs and outputs (cosine, average)")
        self.scale = QComboBox()
        self.scale.addItems(list(SCALES))
        self.scale.setToolTip("colour scale of the counts")
        self.zoom = QComboBox()
        self.zoom.addItems(list(ZOOMS))
        self.zoom.setToolTip("fit: the whole matrix in the dock; labels: cells tall enough for every "
                                 "label (scroll)")
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("the matrix as CSV or Parquet (with provenance), "
                                       "or the picture as PNG/SVG")
        self.canvas = HeatmapCanvas(self)
        self.canvas.set_theme(_theme_colors(napari_viewer))
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.canvas)
        self.hover = ElidedLabel(" ")
        self.summary = ElidedLabel("Load neurons to see their adjacency.", lines=2)
        top = QGridLayout()
        for k, (label, box) in enumerate((("view", self.view), ("order", self.order),
                                          ("colour", self.scale), ("zoom", self.zoom))):
            top.addWidget(QLabel(label), k // 2, 2 * (k % 2))
            top.addWidget(box, k // 2, 2 * (k % 2) + 1)
        top.setColumnStretch(1, 1)
        top.setColumnStretch(3, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.hover)
        layout.addLayout(buttons)
        for box in (self.view, self.order, self.scale, self.zoom):
            box.currentIndexChanged.connect(self.show_matrix)
        self.refresh_button.clicked.connect(self.compute)
        self.export_button.clicked.connect(self._on_export)
        self.canvas.hovered.connect(self._on_hover)
        self.canvas.clicked.connect(self._on_click)
        self.session.changed.connect(self.compute)
        if hasattr(napari_viewer, "events") and hasattr(napari_viewer.events, "theme"):
            napari_viewer.events.theme.connect(self._on_theme)
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
            self.data = None
            self.canvas.set_data(None)
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

    def _on_theme(self, *_: Any) -> None:
        if is_alive(self):
            self.canvas.set_theme(_theme_colors(self.viewer))

    def show_matrix(self) -> None:
        """Show the last adjacency in the chosen view, order and colour scale."""
        if self.adjacency.empty:
            return
        ann = self.session.scene.annotations
        self.data = heatmap_data(self.adjacency, ann, self.view.currentText(), self.order.currentText(),
                                 self.session.scene.root_ids)
        self.canvas.set_data(self.data, self.scale.currentText())
        readable = self.zoom.currentText() == "labels"
        self.canvas.setMinimumSize(self.canvas.readable_size() if readable else MIN_SIZE)
        n = int(self.adjacency.to_numpy().sum())
        rows, cols = self.data.shape
        what = "neurons" if self.data.view == "neurons" else "cell types"
        self.summary.setText(f"Rows presynaptic, columns postsynaptic: {rows} × {cols} {what}, {n} synapses "
                             f"(version {self.adjacency.attrs.get('materialization_version')}).")
        self.hover.setText("Hover a cell for its count; click it to highlight its synapses.")
        self.select_neuron(self.session.model.selected)  # new data clears the outline

    def select_neuron(self, root: int | None) -> None:
        """Outline this neuron's row (presynaptic) and column (postsynaptic), when it has them."""
        d = self.data
        if not is_alive(self) or d is None or d.view != "neurons":
            return
        key = None if root is None else np.uint64(int(root))

        def where(keys: Any) -> int:
            if key is None:
                return -1
            hits = np.flatnonzero(np.asarray(keys, dtype=np.uint64) == key)
            return int(hits[0]) if len(hits) else -1

        self.canvas.mark(where(d.row_keys), where(d.col_keys))

    def _on_hover(self, row: int, col: int) -> None:
        text = self.canvas.hover_text(row, col)
        if text:
            self.hover.setText(text)

    def _on_click(self, row: int, col: int) -> None:
        d = self.data
        if d is None:
            return
        if d.view == "neurons":
            pre, post = np.array([d.row_keys[row]], np.uint64), np.array([d.col_keys[col]], np.uint64)
        else:
            ids = self.adjacency.index.to_numpy(np.uint64)
            types = cell_types(ids, self.session.scene.annotations)
            pre_ids, post_ids = ids[types == d.row_keys[row]], ids[types == d.col_keys[col]]
            pre, post = np.repeat(pre_ids, len(post_ids)), np.tile(post_ids, len(pre_ids))
        rows = pd.DataFrame({"neuron_id": pre, "direction": "downstream", "partner_id": post})
        ids = self.session.scene.synapses_with_partners(rows)
        self.session.highlight(ids)
        self.hover.setText(f"{len(ids)} synapses highlighted: {d.describe(row, col)}")

    # -- export -----------------------------------------------------------------------------------
    def _on_export(self) -> None:
        if self.data is None:
            self.hover.setText("Nothing to export: load neurons first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export adjacency", "adjacency.csv",
                                              file_dialog_filter(EXPORT_FORMATS))
        if not path:
            return
        try:
            self.export(path)
        except (ExportError, OSError) as e:
            self.hover.setText(str(e))
            show_error(str(e))

    def export(self, path: Any) -> None:
        """Write the shown matrix (``.csv``/``.parquet``, with provenance) or picture (``.png``/``.svg``).

        Raises
        ------
        napari_crant.export_formats.ExportError
            Another extension (the message lists the supported formats).
        """
        kind = export_kind(path, EXPORT_FORMATS)
        if self.data is None:
            raise ExportError("nothing to export: no adjacency is shown")
        if kind in IMAGE_FORMATS:
            self.canvas.save_image(str(path))
        else:
            self.data.export(path)
        self.hover.setText(f"Exported to {path}.")
