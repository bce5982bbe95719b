"""Tables shown next to the canvas: partners, adjacency labels, exports with provenance.

Qt-free; IDs stay uint64 (joins by binary search, never through float).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def join_annotations(df: pd.DataFrame, key: str, annotations: pd.DataFrame) -> pd.DataFrame:
    """``df`` with annotation columns of the root in column ``key`` (uint64-safe, order kept)."""
    keys = df[key].to_numpy(np.uint64)
    ann_roots = annotations["root_id"].to_numpy(np.uint64)
    out = df.copy()
    if len(ann_roots):
        uniq, first = np.unique(ann_roots, return_index=True)
        pos = np.minimum(np.searchsorted(uniq, keys), len(uniq) - 1)
        found = uniq[pos] == keys
        rows = first[pos]
    else:
        found = np.zeros(len(keys), bool)
        rows = np.zeros(len(keys), int)
    for c in annotations.columns:
        if c == "root_id":
            continue
        vals = annotations[c].to_numpy(object)
        col = np.full(len(keys), None, dtype=object)
        col[found] = vals[rows[found]]
        out[c] = col
    return out


def partner_table(conn: pd.DataFrame, roots: Sequence[int] | np.ndarray,
                  annotations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Upstream and downstream partners of ``roots`` from a ``pre, post, weight`` edge list.

    Parameters
    ----------
    conn
        Edge list as returned by :func:`~napari_crant.get_connectivity` for ``roots``.
    roots
        The neurons whose partners are listed.
    annotations
        From :func:`~napari_crant.scene.loading.current_annotations` (optional).

    Returns
    -------
    pandas.DataFrame
        ``direction`` ('upstream': partner -> neuron, 'downstream': neuron -> partner),
        ``partner_id`` (uint64), ``weight`` (synapses), ``percent`` (of the neuron's inputs for
        upstream rows, of its outputs for downstream rows, counted over the pairs that pass
        the query's threshold), annotation columns, and ``neuron_id`` (uint64); heaviest first.
    """
    roots = np.asarray(roots, dtype=np.uint64)
    pre = conn["pre"].to_numpy(np.uint64)
    post = conn["post"].to_numpy(np.uint64)
    w = conn["weight"].to_numpy(np.int64)
    parts = []
    for direction, own, other in (("upstream", post, pre), ("downstream", pre, post)):
        sel = np.isin(own, roots)
        part = pd.DataFrame({
            "neuron_id": own[sel].astype(np.uint64),
            "direction": direction,
            "partner_id": other[sel].astype(np.uint64),
            "weight": w[sel],
        })
        total = part.groupby("neuron_id")["weight"].transform("sum").to_numpy(np.float64)
        part["percent"] = np.where(total > 0, 100.0 * part["weight"].to_numpy() / np.maximum(total, 1), 0.0)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["weight", "direction", "partner_id"], ascending=[False, True, True],
                          kind="stable").reset_index(drop=True)
    out["neuron_id"] = out["neuron_id"].astype(np.uint64)
    out["partner_id"] = out["partner_id"].astype(np.uint64)
    if annotations is not None:
        out = join_annotations(out, "partner_id", annotations)
    # what proofreaders scan first, so it is visible without scrolling in a narrow dock
    first = ["direction", "partner_id", *(["cell_type"] if "cell_type" in out else []), "weight", "percent"]
    return out[first + [c for c in out.columns if c not in first and c != "neuron_id"] + ["neuron_id"]]


def adjacency_labels(adj: pd.DataFrame, annotations: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Row and column labels of an adjacency matrix.

    Rows: ``cell_type (id)`` where the cell type is known, else the ID. Columns (narrow):
    the cell type, else the ID's last 6 digits preceded by ``…``.
    """
    def parts(ids: pd.Index) -> tuple[list[Any], np.ndarray]:
        df = join_annotations(pd.DataFrame({"root_id": np.asarray(ids, dtype=np.uint64)}),
                              "root_id", annotations)
        ct = list(df["cell_type"]) if "cell_type" in df else [None] * len(df)
        return ct, df["root_id"].to_numpy(np.uint64)

    ct, ids = parts(adj.index)
    rows = [f"{c} ({int(r)})" if isinstance(c, str) and c else str(int(r))
            for c, r in zip(ct, ids, strict=True)]
    ct, ids = parts(adj.columns)
    cols = [c if isinstance(c, str) and c else f"…{str(int(r))[-6:]}" for c, r in zip(ct, ids, strict=True)]
    return rows, cols


def provenance_lines(prov: dict[str, Any]) -> list[str]:
    """Provenance as ``key: value`` lines (for CSV headers)."""
    lines = []
    for k, v in prov.items():
        if isinstance(v, dict):
            v = json.dumps({str(a): b for a, b in v.items()}, default=str)
        lines.append(f"{k}: {v}")
    return lines


def export_table(df: pd.DataFrame, path: Any, provenance: dict[str, Any]) -> None:
    """Write a table to ``.csv`` (provenance as ``#`` header lines) or ``.parquet`` (schema metadata).

    IDs are written as exact integers (uint64), never floats.
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"napari_crant.provenance"] = json.dumps(
            {str(k): v for k, v in provenance.items()}, default=str).encode()
        pq.write_table(table.replace_schema_metadata(meta), path)
    elif path.suffix.lower() in (".csv", ".txt", ""):
        with open(path, "w", newline="") as f:
            for line in provenance_lines(provenance):
                f.write(f"# {line}\n")
            df.to_csv(f, index=False)
    else:
        raise ValueError(f"export to .csv or .parquet, not {path.suffix!r}")
