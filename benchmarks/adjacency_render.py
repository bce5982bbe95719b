"""Time to draw a 300 x 300 adjacency heat map: Qt-native (QImage + QPainter) vs matplotlib.

Run under a display (Xvfb)::

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/adjacency_render.py [--n 300] [--repeats 7]

Both candidates draw the same :class:`~napari_crant.adjacency_view.HeatmapData` (a
deterministic 300-neuron matrix with 3 cell types, about 30% of pairs connected, heavy-tailed
counts) in the same process, one after the other, with the same content: the colour-mapped
matrix (viridis, log scale), a colour bar with ticks, cell-type labels (one per type, with
separator lines) in the napari dark theme, at 520 x 520 px:

- **qt**: :class:`napari_crant._qt.heatmap.HeatmapCanvas`, the dock's widget (``repaint()``,
  which paints synchronously on screen);
- **matplotlib**: a ``FigureCanvasQTAgg`` styled as napari-matplotlib does (theme colours for
  figure, axes, ticks and text), ``imshow`` with ``LogNorm``, ``colorbar``, ticks at the type
  centres and ``axhline``/``axvline`` separators; ``canvas.draw()`` then ``repaint()``.

Cases: **draw** (new data, first render), **reorder** (a different order of the same matrix),
**repaint** (same data, e.g. a window exposed or resized) and **all labels** (a picture with
one label per row and column, 300 each, at the size where they fit: the dock's PNG export).
Each is timed ``--repeats`` times after one warm-up; the table gives medians (ms).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd


def make_matrix(n: int, seed: int = 0):
    """A deterministic adjacency with three communities and three cell types (18-digit IDs)."""
    from napari_crant.adjacency_view import heatmap_data

    rng = np.random.default_rng(seed)
    ids = np.uint64(720_575_940_600_000_000) + rng.choice(10**9, n, replace=False).astype(np.uint64)
    group = rng.integers(0, 3, n)
    p = np.where(group[:, None] == group[None, :], 0.5, 0.15)
    counts = np.where(rng.random((n, n)) < p, rng.zipf(1.8, (n, n)).clip(1, 400), 0).astype(np.int64)
    np.fill_diagonal(counts, 0)
    adj = pd.DataFrame(counts, index=pd.Index(ids, name="pre"), columns=pd.Index(ids, name="post"))
    adj.attrs = {"dataset": "synthetic"}
    types = np.array(["KC_ab", "KC_apbp", "KC_g"], object)[(group + rng.integers(0, 2, n)) % 3]
    ann = pd.DataFrame({"root_id": ids, "cell_type": types})
    return heatmap_data(adj, ann, "neurons", "cell type"), heatmap_data(adj, ann, "neurons", "clustering")


def median_ms(fn: Callable[[], None], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


class MatplotlibHeatmap:
    """The matplotlib candidate, following napari-matplotlib's conventions (theme colours, Qt canvas)."""

    def __init__(self, colors: dict, size: int):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.colors = {k: tuple(c / 255 for c in v) for k, v in colors.items()}
        self.figure = Figure(figsize=(size / 100, size / 100), dpi=100, facecolor=self.colors["background"])
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.resize(size, size)
        self.canvas.show()

    def set_data(self, data, every_label: bool = False) -> None:
        from matplotlib.colors import LogNorm

        from napari_crant.adjacency_view import type_runs

        fig, c = self.figure, self.colors
        fig.clear()
        ax = fig.add_subplot(facecolor=c["background"])
        values = np.ma.masked_equal(data.values, 0)
        im = ax.imshow(values, cmap="viridis", norm=LogNorm(vmin=max(data.vmin, 1), vmax=data.vmax),
                       interpolation="nearest", aspect="equal")
        bar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
        bar.ax.tick_params(colors=c["text"], labelsize=7)
        bar.outline.set_edgecolor(c["secondary"])
        if every_label:
            pos = np.arange(data.shape[0])
            ax.set_yticks(pos, data.row_labels, fontsize=7)
            ax.set_xticks(pos, data.col_labels, fontsize=7, rotation=90)
        else:
            runs = type_runs(data.row_types)
            ax.set_yticks([(a + b - 1) / 2 for a, b, _ in runs], [t for _, _, t in runs], fontsize=8)
            ax.set_xticks([(a + b - 1) / 2 for a, b, _ in runs], [t for _, _, t in runs], fontsize=8,
                          rotation=90)
            for a, _, _ in runs[1:]:
                ax.axhline(a - 0.5, color=c["secondary"], lw=0.8)
                ax.axvline(a - 0.5, color=c["secondary"], lw=0.8)
        ax.xaxis.tick_top()
        ax.tick_params(colors=c["text"])
        for spine in ax.spines.values():
            spine.set_edgecolor(c["secondary"])

    def render(self) -> None:
        self.canvas.draw()
        self.canvas.repaint()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="neurons (rows and columns)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--size", type=int, default=520, help="widget size in px")
    args = ap.parse_args(argv)

    from qtpy.QtGui import QImage, QPainter
    from qtpy.QtWidgets import QApplication

    from napari_crant._qt.heatmap import DARK, HeatmapCanvas

    app = QApplication.instance() or QApplication([])
    by_type, clustered = make_matrix(args.n)

    qt = HeatmapCanvas()
    qt.resize(args.size, args.size)
    qt.show()
    app.processEvents()

    def qt_draw(data=by_type) -> None:
        qt.set_data(data, "log")
        qt.repaint()

    def qt_all_labels() -> None:
        qt.set_data(by_type, "log")
        size = qt.readable_size()
        image = QImage(size, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        qt.paint(painter, size.width(), size.height())
        painter.end()

    mpl = MatplotlibHeatmap(DARK, args.size)
    app.processEvents()

    def mpl_draw(data=by_type) -> None:
        mpl.set_data(data)
        mpl.render()

    def mpl_all_labels() -> None:
        size = qt.readable_size()  # the same picture size as the Qt export
        mpl.figure.set_size_inches(size.width() / 100, size.height() / 100)
        mpl.set_data(by_type, every_label=True)
        mpl.canvas.draw()
        mpl.figure.set_size_inches(args.size / 100, args.size / 100)

    state = {"flip": False}

    def reorder(draw: Callable) -> Callable[[], None]:
        def run() -> None:
            state["flip"] = not state["flip"]
            draw(clustered if state["flip"] else by_type)
        return run

    qt_draw()
    mpl_draw()
    rows = [
        ("draw", median_ms(qt_draw, args.repeats), median_ms(mpl_draw, args.repeats)),
        ("reorder", median_ms(reorder(qt_draw), args.repeats), median_ms(reorder(mpl_draw), args.repeats)),
        ("repaint", median_ms(qt.repaint, args.repeats), median_ms(mpl.render, args.repeats)),
        ("all labels", median_ms(qt_all_labels, args.repeats), median_ms(mpl_all_labels, args.repeats)),
    ]
    print(f"Adjacency heat map, {args.n} x {args.n}, {args.size} px, median of {args.repeats} (ms)\n")
    print("| case | Qt-native (QImage + QPainter) | matplotlib (FigureCanvasQTAgg) | ratio |")
    print("|---|---:|---:|---:|")
    for name, q, m in rows:
        print(f"| {name} | {q:.1f} | {m:.1f} | {m / q:.0f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
