"""Steps shared by the query functions: resolve IDs, filter synapse rows, record provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import napari_crant
from napari_crant.datasets import get_source
from napari_crant.ids import factorize, lookup_uint64, parse_ids, sorted_unique
from napari_crant.materialization import Materialization, resolve_materialization
from napari_crant.queries.update import resolve_id_arrays
from napari_crant.sources.base import DataSource


@dataclass
class QueryIDs:
    """IDs as the user gave them and as resolved at the query's moment.

    ``old_ids`` and ``new_ids`` are aligned: one entry per distinct given ID (first-seen
    order) and the root it resolved to.
    """

    given: np.ndarray
    old_ids: np.ndarray
    new_ids: np.ndarray
    roots: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.roots = sorted_unique(self.new_ids) if len(self.new_ids) > 1 else self.new_ids

    def updated(self) -> dict[int, int]:
        """``{old: new}`` for IDs that were changed."""
        changed = self.old_ids != self.new_ids
        if not changed.any():
            return {}
        return {int(o): int(n) for o, n in zip(self.old_ids[changed], self.new_ids[changed], strict=True)}

    def root_of_given(self) -> np.ndarray:
        """The resolved root of each given ID (aligned with ``given``)."""
        return lookup_uint64(self.old_ids, self.new_ids, self.given)


def open_query(dataset: Any, materialization: Any) -> tuple[DataSource, Materialization]:
    """The source and resolved materialization of a query."""
    source = get_source(dataset)
    return source, resolve_materialization(source, materialization)


def query_ids(
    source: DataSource,
    at: Materialization,
    ids: Any,
    update_ids: bool,
    name: str,
) -> QueryIDs:
    """Parse ``ids`` and resolve them to roots alive at ``at``."""
    given = parse_ids(ids, name)
    old, new, _ = resolve_id_arrays(source, given, at, update=update_ids, name=name)
    return QueryIDs(given, old, new)


def pre_post_ids(
    source: DataSource, at: Materialization, pre_ids: Any, post_ids: Any, update_ids: bool
) -> dict[str, QueryIDs]:
    """Resolve whichever of ``pre_ids`` / ``post_ids`` is given (keys ``'pre_ids'``, ``'post_ids'``)."""
    ids = {}
    if pre_ids is not None:
        ids["pre_ids"] = query_ids(source, at, pre_ids, update_ids, "pre_ids")
    if post_ids is not None:
        ids["post_ids"] = query_ids(source, at, post_ids, update_ids, "post_ids")
    return ids


def filter_synapses(
    syn: pd.DataFrame, threshold: int, min_size: float | None, clean: bool
) -> pd.DataFrame:
    """min_size -> threshold per (pre, post) pair -> clean, in the reference's order."""
    if min_size is not None:
        syn = syn[syn["size"].to_numpy() >= min_size]
    if threshold > 1 and len(syn):
        pair_n = syn.groupby(["pre_pt_root_id", "post_pt_root_id"], sort=False)["id"].transform("size")
        syn = syn[pair_n.to_numpy() >= threshold]
    if clean and len(syn):
        pre = syn["pre_pt_root_id"].to_numpy()
        post = syn["post_pt_root_id"].to_numpy()
        syn = syn[(pre != post) & (pre != 0) & (post != 0)]
    return syn.reset_index(drop=True)


def provenance(
    source: DataSource, at: Materialization, ids: dict[str, QueryIDs] | None = None, **filters: Any
) -> dict[str, Any]:
    """The ``DataFrame.attrs`` of a query result."""
    out: dict[str, Any] = {
        **source.describe(),
        **at.describe(),
        "filters": filters,
        "napari_crant_version": napari_crant.__version__,
    }
    if ids:
        updated = {}
        for q in ids.values():
            updated.update(q.updated())
        out["updated_ids"] = updated
    return out


def keep_filtered(
    syn: dict[str, np.ndarray], threshold: int, min_size: float | None, clean: bool
) -> np.ndarray:
    """:func:`filter_synapses` on the arrays of ``DataSource.synapse_columns``: the rows kept."""
    pre, post = syn["pre_pt_root_id"], syn["post_pt_root_id"]
    keep = np.ones(len(pre), dtype=bool)
    if min_size is not None:
        keep &= syn["size"] >= min_size
    if threshold > 1 and keep.any():
        rows = np.flatnonzero(keep)
        keep[rows[pair_size_of_rows(pre[rows], post[rows]) < threshold]] = False
    if clean:
        keep &= (pre != post) & (pre != 0) & (post != 0)
    return keep


#: Above this many rows, pairs are counted on hashed dense codes instead of a two-key sort.
_DENSE_PAIRS = 2048


def _codes(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes and distinct values of ``a`` (:func:`~napari_crant.ids.factorize`); runs of an ascending
    ``a`` (one side's rows, grouped by root) are numbered without hashing."""
    if len(a) > 1 and bool(np.all(a[1:] >= a[:-1])):
        start = np.concatenate(([True], a[1:] != a[:-1]))
        return np.cumsum(start) - 1, a[start]
    return factorize(a)


def dense_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(a, b)`` pairs and their counts, by hashing each side to dense codes and
    sorting one int64 key (several times faster than ``np.lexsort`` on two uint64 keys).

    Returns
    -------
    (code_a, uniq_a, uniq_b_of_pair, count)
        ``uniq_a[code_a]`` is each pair's ``a``; ``uniq_b_of_pair`` its ``b``; pairs ordered
        by their ``a``'s code, then ``b``'s code (not by value).
    """
    code_a, uniq_a = _codes(a)
    code_b, uniq_b = _codes(b)
    key = code_a.astype(np.int64) * max(len(uniq_b), 1) + code_b
    key, count = np.unique(key, return_counts=True)
    n_b = max(len(uniq_b), 1)
    return key // n_b, np.asarray(uniq_a, np.uint64), np.asarray(uniq_b, np.uint64)[key % n_b], count


def pair_size_of_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row, how many rows share its ``(a, b)`` pair."""
    if not len(a):
        return np.zeros(0, np.int64)
    code_a, _ = factorize(a)
    code_b, uniq_b = factorize(b)
    key = code_a.astype(np.int64) * max(len(uniq_b), 1) + code_b
    _, inverse, count = np.unique(key, return_inverse=True, return_counts=True)
    return count[inverse.ravel()]


def pair_count_arrays(pre: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pre, post, weight`` arrays of :func:`pair_counts` (same order)."""
    if len(pre) > _DENSE_PAIRS:
        code, uniq_pre, post, weight = dense_pairs(pre, post)
        pre, weight = uniq_pre[code], weight.astype(np.int64)
        order = np.lexsort((post, pre, -weight))  # on distinct pairs only
        return pre[order], post[order], weight[order]
    if len(pre):
        order = np.lexsort((post, pre))
        pre, post = pre[order], post[order]
        start = np.flatnonzero(np.concatenate(([True], (pre[1:] != pre[:-1]) | (post[1:] != post[:-1]))))
        weight = np.diff(np.append(start, len(pre))).astype(np.int64)
        pre, post = pre[start], post[start]
        # (pre, post) are ascending already: a stable sort on -weight keeps that for ties
        by_weight = np.argsort(-weight, kind="stable")
        pre, post, weight = pre[by_weight], post[by_weight], weight[by_weight]
    else:
        pre, post, weight = pre.astype(np.uint64), post.astype(np.uint64), np.array([], np.int64)
    return pre, post, weight


def pair_counts(pre: np.ndarray, post: np.ndarray) -> pd.DataFrame:
    """``pre, post, weight`` from aligned pre and post root arrays; heaviest first, ties by (pre, post)."""
    pre, post, weight = pair_count_arrays(pre, post)
    return pd.DataFrame({"pre": pre, "post": post, "weight": weight})
