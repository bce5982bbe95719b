"""What the adjacency dock shows, without Qt: ordering, clustering, type aggregation, colours, export.

An adjacency matrix (from :func:`~napari_crant.get_adjacency`: rows presynaptic, columns
postsynaptic, uint64 root IDs) becomes a :class:`HeatmapData`: the counts in display order,
the cell type and labels of every row and column, and the provenance. Two views:

- ``'neurons'``: one row/column per neuron, labelled ``cell type …last 6 digits`` (full ID in
  :attr:`HeatmapData.row_full`);
- ``'cell types'``: synapses summed per (presynaptic cell type, postsynaptic cell type);
  neurons without a cell type form the group :data:`NO_TYPE`.

Orders: ``'cell type'`` (then ID), ``'clustering'`` (average-linkage hierarchical clustering of
each neuron's inputs and outputs, cosine distance on log counts, optimal leaf order),
``'loaded order'`` and ``'root ID'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.export_formats import TABLE_FORMATS, export_kind, read_table
from napari_crant.scene.tables import export_table, join_annotations

VIEWS = ("neurons", "cell types")
ORDERS = ("cell type", "clustering", "loaded order", "root ID")
SCALES = ("log", "linear")
#: group of neurons without a cell type.
NO_TYPE = "(no type)"
#: digits of the ID kept in short labels.
SHORT_ID_DIGITS = 6


def cell_types(ids: Any, annotations: pd.DataFrame) -> np.ndarray:
    """Cell type of each root (``NO_TYPE`` where unknown), as an object array."""
    ids = np.asarray(ids, dtype=np.uint64)
    ann = join_annotations(pd.DataFrame({"root_id": ids}), "root_id", annotations)
    raw = ann["cell_type"].to_numpy(object) if "cell_type" in ann else np.full(len(ids), None, object)
    return np.array([c if isinstance(c, str) and c else NO_TYPE for c in raw], dtype=object)


def short_label(root_id: int, cell_type: str) -> str:
    """``'KC_g …345678'``: cell type and the ID's last digits (``'…345678'`` without a type)."""
    tail = f"…{str(int(root_id))[-SHORT_ID_DIGITS:]}"
    return tail if cell_type == NO_TYPE else f"{cell_type} {tail}"


def cluster_order(features: np.ndarray) -> np.ndarray:
    """Leaf order of an average-linkage clustering of the rows of ``features`` (cosine distance).

    Rows that are all zero are at distance 0 from each other and 1 from every other row.
    Uses :func:`scipy.cluster.hierarchy.linkage` with ``optimal_ordering=True``.

    Returns
    -------
    numpy.ndarray
        A permutation of ``range(len(features))``.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    if n <= 2:
        return np.arange(n)
    norm = np.linalg.norm(x, axis=1)
    nonzero = norm > 0
    unit = np.zeros_like(x)
    unit[nonzero] = x[nonzero] / norm[nonzero, None]
    dist = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    both_zero = ~nonzero[:, None] & ~nonzero[None, :]
    one_zero = nonzero[:, None] ^ nonzero[None, :]
    dist[both_zero] = 0.0
    dist[one_zero] = 1.0
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2
    return leaves_list(linkage(squareform(dist, checks=False), method="average", optimal_ordering=True))


def _ids_order(ids: np.ndarray, types: np.ndarray, order: str, loaded: Any,
               features: np.ndarray) -> np.ndarray:
    if order == "cell type":
        keys = [(t == NO_TYPE, str(t), int(i)) for t, i in zip(types, ids, strict=True)]
        return np.array(sorted(range(len(ids)), key=keys.__getitem__), dtype=np.intp)
    if order == "clustering":
        return cluster_order(features).astype(np.intp)
    if order == "loaded order" and loaded is not None:
        pos = {int(r): k for k, r in enumerate(np.asarray(loaded, dtype=np.uint64))}
        return np.array(sorted(range(len(ids)), key=lambda k: (pos.get(int(ids[k]), len(pos)),
                                                                 int(ids[k]))), dtype=np.intp)
    if order in ORDERS:
        return np.argsort(ids, kind="stable").astype(np.intp)
    raise ValueError(f"order must be one of {ORDERS}, not {order!r}")


def order_adjacency(adj: pd.DataFrame, annotations: pd.DataFrame, order: str,
                    loaded: Any = None) -> pd.DataFrame:
    """Reorder an adjacency matrix's rows and columns.

    A matrix with the same IDs on both axes keeps them in the same order on both (the
    diagonal stays the diagonal); clustering then uses each neuron's outputs and inputs.

    Parameters
    ----------
    adj
        From :func:`~napari_crant.get_adjacency` (uint64 index and columns).
    annotations
        ``root_id`` and ``cell_type`` (e.g. ``Scene.annotations``).
    order
        One of :data:`ORDERS`.
    loaded
        Root IDs in loading order (for ``'loaded order'``).
    """
    rows = adj.index.to_numpy(np.uint64)
    cols = adj.columns.to_numpy(np.uint64)
    values = adj.to_numpy(np.int64)
    logv = np.log1p(values.astype(np.float64))
    if len(rows) == len(cols) and np.array_equal(np.sort(rows), np.sort(cols)):
        col_pos = np.argsort(cols)[np.searchsorted(np.sort(cols), rows)]  # column of each row's ID
        feats = np.hstack([logv, logv[:, col_pos].T]) if len(rows) else logv
        row_perm = _ids_order(rows, cell_types(rows, annotations), order, loaded, feats)
        col_perm = col_pos[row_perm]
    else:
        row_perm = _ids_order(rows, cell_types(rows, annotations), order, loaded, logv)
        col_perm = _ids_order(cols, cell_types(cols, annotations), order, loaded, logv.T)
    out = pd.DataFrame(values[np.ix_(row_perm, col_perm)],
                       index=pd.Index(rows[row_perm], dtype=np.uint64, name="pre"),
                       columns=pd.Index(cols[col_perm], dtype=np.uint64, name="post"))
    out.attrs = dict(adj.attrs)
    return out


def aggregate_by_type(adj: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """Synapses summed per (presynaptic cell type, postsynaptic cell type).

    Returns
    -------
    pandas.DataFrame
        int64 sums; index ``pre_cell_type`` and columns ``post_cell_type`` sorted by name
        (:data:`NO_TYPE` last); ``attrs``: the provenance of ``adj`` plus ``neurons_per_type``.
    """
    rows = cell_types(adj.index.to_numpy(np.uint64), annotations)
    cols = cell_types(adj.columns.to_numpy(np.uint64), annotations)

    def sorted_types(t: np.ndarray) -> list[str]:
        return sorted(set(t), key=lambda s: (s == NO_TYPE, s))

    row_types, col_types = sorted_types(rows), sorted_types(cols)
    row_pos = {t: k for k, t in enumerate(row_types)}
    col_pos = {t: k for k, t in enumerate(col_types)}
    r = np.array([row_pos[t] for t in rows], dtype=np.intp)
    c = np.array([col_pos[t] for t in cols], dtype=np.intp)
    sums = np.zeros((len(row_types), len(col_types)), np.int64)
    values = adj.to_numpy(np.int64)
    np.add.at(sums, (r[:, None], c[None, :]), values)
    out = pd.DataFrame(sums, index=pd.Index(row_types, name="pre_cell_type"),
                       columns=pd.Index(col_types, name="post_cell_type"))
    counts = pd.Series(np.concatenate([rows, cols])).groupby(
        np.concatenate([adj.index.to_numpy(np.uint64), adj.columns.to_numpy(np.uint64)])).first()
    out.attrs = {**adj.attrs, "neurons_per_type": {str(k): int(v) for k, v in
                                                   counts.value_counts().sort_index().items()}}
    return out


@dataclass
class HeatmapData:
    """A matrix ready to draw: counts in display order with the labels of rows and columns.

    Attributes
    ----------
    values
        ``(rows, columns)`` int64 synapse counts.
    row_keys, col_keys
        uint64 root IDs (``'neurons'`` view) or cell-type names (``'cell types'`` view).
    row_types, col_types
        Cell type of each row / column (the key itself in the type view).
    row_labels, col_labels
        Short labels (``cell type …345678``).
    row_full, col_full
        Full labels (``cell type 720575940612345678``), for tooltips.
    view, order
        How the matrix was made (one of :data:`VIEWS`, :data:`ORDERS`).
    provenance
        The query's provenance plus view and order.
    """

    values: np.ndarray
    row_keys: np.ndarray
    col_keys: np.ndarray
    row_types: np.ndarray
    col_types: np.ndarray
    row_labels: list[str]
    col_labels: list[str]
    row_full: list[str]
    col_full: list[str]
    view: str = "neurons"
    order: str = "cell type"
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``."""
        return self.values.shape

    @cached_property
    def vmin(self) -> int:
        """The smallest non-zero count (1 if none)."""
        nonzero = self.values[self.values > 0]
        return int(nonzero.min()) if nonzero.size else 1

    @cached_property
    def vmax(self) -> int:
        """The largest count (at least 1)."""
        return max(int(self.values.max()), 1) if self.values.size else 1

    def describe(self, row: int, col: int) -> str:
        """``pre → post: n synapses`` of one cell (full labels)."""
        n = int(self.values[row, col])
        return f"pre {self.row_full[row]} → post {self.col_full[col]}: {n} synapse{'s' * (n != 1)}"

    def to_frame(self) -> pd.DataFrame:
        """The matrix as a table: label columns, then one column per post neuron (or cell type).

        Neuron view: ``pre_id`` (uint64), ``pre_cell_type``, then columns named by the post
        root IDs (decimal text). Type view: ``pre_cell_type``, then one column per post type.
        """
        cols = [str(int(k)) if self.view == "neurons" else str(k) for k in self.col_keys]
        out = pd.DataFrame(self.values, columns=cols)
        if self.view == "neurons":
            out.insert(0, "pre_cell_type", self.row_types)
            out.insert(0, "pre_id", self.row_keys.astype(np.uint64))
        else:
            out.insert(0, "pre_cell_type", self.row_keys)
        return out

    def export(self, path: Any) -> None:
        """Write :meth:`to_frame` to ``.csv`` or ``.parquet`` with the provenance.

        Raises
        ------
        napari_crant.export_formats.ExportError
            ``path`` has another extension.
        """
        export_kind(path, TABLE_FORMATS)
        prov = dict(self.provenance)
        if self.view == "neurons":
            prov["post_cell_types"] = {str(int(k)): str(t) for k, t in
                                       zip(self.col_keys, self.col_types, strict=True)}
        export_table(self.to_frame(), path, prov)


def heatmap_data(adj: pd.DataFrame, annotations: pd.DataFrame, view: str = "neurons",
                 order: str = "cell type", loaded: Any = None) -> HeatmapData:
    """A :class:`HeatmapData` of ``adj`` in ``view`` (:data:`VIEWS`) and ``order`` (:data:`ORDERS`)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    prov = {**adj.attrs, "view": view, "order": order,
            "rows": "presynaptic", "columns": "postsynaptic", "values": "synapse counts"}
    if view == "cell types":
        agg = aggregate_by_type(adj, annotations)
        if order == "clustering" and len(agg):
            feats = np.log1p(agg.to_numpy(np.float64))
            agg = agg.iloc[cluster_order(feats), cluster_order(feats.T)]
        prov["neurons_per_type"] = agg.attrs.get("neurons_per_type", {})
        rows, cols = agg.index.to_numpy(object), agg.columns.to_numpy(object)
        return HeatmapData(agg.to_numpy(np.int64), rows, cols, rows, cols, list(rows), list(cols),
                           list(rows), list(cols), view, order, prov)
    m = order_adjacency(adj, annotations, order, loaded)
    rows, cols = m.index.to_numpy(np.uint64), m.columns.to_numpy(np.uint64)
    rt, ct = cell_types(rows, annotations), cell_types(cols, annotations)

    def full(i: Any, t: str) -> str:
        return str(int(i)) if t == NO_TYPE else f"{t} {int(i)}"

    return HeatmapData(
        m.to_numpy(np.int64), rows, cols, rt, ct,
        [short_label(i, t) for i, t in zip(rows, rt, strict=True)],
        [short_label(i, t) for i, t in zip(cols, ct, strict=True)],
        [full(i, t) for i, t in zip(rows, rt, strict=True)],
        [full(i, t) for i, t in zip(cols, ct, strict=True)],
        view, order, prov)


def read_matrix(path: Any) -> pd.DataFrame:
    """Read a matrix written by :meth:`HeatmapData.export` back (provenance in ``attrs``).

    Returns
    -------
    pandas.DataFrame
        Neuron view: uint64 index ``pre`` and columns ``post``; type view: cell-type names.
    """
    df = read_table(path)
    if "pre_id" in df.columns:
        values = df.drop(columns=["pre_id", "pre_cell_type"])
        out = pd.DataFrame(values.to_numpy(np.int64),
                           index=pd.Index(df["pre_id"].to_numpy(np.uint64), name="pre"),
                           columns=pd.Index(np.array([int(c) for c in values.columns], np.uint64),
                                            name="post"))
    else:
        values = df.drop(columns=["pre_cell_type"])
        out = pd.DataFrame(values.to_numpy(np.int64),
                           index=pd.Index(df["pre_cell_type"], name="pre_cell_type"),
                           columns=pd.Index(list(values.columns), name="post_cell_type"))
    out.attrs = df.attrs
    return out


# --------------------------------------------------------------------------------------
# colours
# --------------------------------------------------------------------------------------


def normalized(values: np.ndarray, vmax: float, scale: str = "log", vmin: float = 1.0) -> np.ndarray:
    """Counts mapped to ``[0, 1]``: ``log(v / vmin) / log(vmax / vmin)`` or ``v / vmax``.

    On the log scale ``vmin`` (the smallest non-zero count) maps to 0 and ``vmax`` to 1.
    """
    v = np.asarray(values, dtype=np.float64)
    vmax = max(float(vmax), 1.0)
    if scale == "log":
        vmin = min(max(float(vmin), 1.0), vmax)
        if vmax <= vmin:
            return np.where(v > 0, 1.0, 0.0)
        return np.clip(np.log(np.maximum(v, vmin) / vmin) / np.log(vmax / vmin), 0.0, 1.0)
    if scale == "linear":
        return np.clip(v / vmax, 0.0, 1.0)
    raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")


def color_image(values: np.ndarray, lut: np.ndarray, zero_rgba: Any, vmax: float | None = None,
                scale: str = "log", vmin: float = 1.0) -> np.ndarray:
    """RGBA image ``(rows, cols, 4)`` uint8 of a count matrix.

    Parameters
    ----------
    values
        Counts.
    lut
        ``(n, 4)`` uint8 colours from the lowest to the highest non-zero count.
    zero_rgba
        Colour of cells without synapses.
    vmax, scale, vmin
        Top of the scale (default: the largest count), ``'log'`` or ``'linear'``, and the
        count at the bottom of the log scale.
    """
    values = np.asarray(values)
    lut = np.asarray(lut, dtype=np.uint8)
    vmax = float(values.max()) if vmax is None and values.size else float(vmax or 1)
    t = normalized(values, vmax, scale, vmin)
    idx = np.round(t * (len(lut) - 1)).astype(np.intp)
    out = lut[idx]
    out[values <= 0] = np.asarray(zero_rgba, dtype=np.uint8)
    return np.ascontiguousarray(out)


def colorbar_ticks(vmax: int, scale: str = "log", vmin: int = 1) -> list[int]:
    """Count values to label on the colour bar, ending with ``vmax``.

    ``'log'``: ``vmin``, then powers of ten (with 2 and 5 between them while there are few);
    ``'linear'``: 0 and about five round steps.
    """
    vmax = max(int(vmax), 1)
    vmin = min(max(int(vmin), 1), vmax)
    if scale == "linear":
        step = next(m * 10**e for e in range(12) for m in (1, 2, 5) if vmax / (m * 10**e) <= 5)
        ticks = list(range(0, vmax + 1, step))
    elif scale == "log":
        ticks = [10**e for e in range(12) if vmin < 10**e <= vmax]
        if len(ticks) < 3:
            ticks = [t for e in range(12) for t in (10**e, 2 * 10**e, 5 * 10**e) if vmin < t <= vmax]
        if not ticks or ticks[0] > 1.5 * vmin:
            ticks.insert(0, vmin)
    else:
        raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    if ticks[-1] != vmax:
        if vmax - ticks[-1] < 0.3 * vmax and len(ticks) > 1:
            ticks[-1] = vmax  # too close to label both
        else:
            ticks.append(vmax)
    return ticks


def type_runs(types: Any) -> list[tuple[int, int, str]]:
    """Contiguous runs of the same cell type: ``(start, stop, type)``."""
    types = list(types)
    runs = []
    start = 0
    for i in range(1, len(types) + 1):
        if i == len(types) or types[i] != types[start]:
            runs.append((start, i, str(types[start])))
            start = i
    return runs
