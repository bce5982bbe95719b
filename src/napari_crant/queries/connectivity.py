"""``get_connectivity`` (edge lists) and ``get_synapse_counts`` (per-neuron totals)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import InvalidArgumentError, check_flags, check_threshold
from napari_crant.ids import unique_first
from napari_crant.queries.common import (
    open_query,
    pair_counts,
    provenance,
    query_ids,
)
from napari_crant.sources.base import DataSource


def _partner_pairs(
    source: DataSource, at: Any, roots: np.ndarray, upstream: bool, downstream: bool,
    min_size: float | None, clean: bool,
) -> pd.DataFrame:
    """``pre, post, weight`` of the union of both directions, filtered (arrays, no row frames).

    Same steps as :func:`~napari_crant.queries.common.filter_synapses` followed by
    :func:`~napari_crant.queries.common.pair_counts`, on numpy arrays: this is the hot
    path of a single-neuron query.
    """
    parts = []
    if upstream:
        parts.append(source.synapses(None, roots, at, positions=False))
    if downstream:
        parts.append(source.synapses(roots, None, at, positions=False))

    def col(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate([p[name].to_numpy(dtype) for p in parts])

    pre, post = col("pre_pt_root_id", np.uint64), col("post_pt_root_id", np.uint64)
    keep = np.ones(len(pre), dtype=bool)
    if len(parts) > 1:
        keep[:] = False
        keep[unique_first(col("id", np.uint64))] = True  # a synapse seen from both sides once
    if min_size is not None:
        keep &= col("size", np.int64) >= min_size
    if clean:
        keep &= (pre != post) & (pre != 0) & (post != 0)
    return pair_counts(pre[keep], post[keep])


def get_connectivity(
    neuron_ids: Any,
    upstream: bool = True,
    downstream: bool = True,
    threshold: int = 1,
    min_size: float | None = None,
    materialization: Any = "latest",
    clean: bool = True,
    update_ids: bool = True,
    dataset: Any = None,
) -> pd.DataFrame:
    """Connections of the given neurons as an edge list.

    Upstream: synapses whose postsynaptic root is a query neuron; downstream: whose
    presynaptic root is. Their union (de-duplicated by synapse id) is filtered by
    ``min_size``, grouped by (pre, post) and pairs below ``threshold`` are dropped.

    Parameters
    ----------
    neuron_ids
        Root IDs (int, str, list, array, Series or ``NeuronCriteria``).
    upstream, downstream
        Which directions to include; not both ``False``.
    threshold
        Minimum synapses per (pre, post) pair.
    min_size
        Drop synapses with ``size < min_size`` first.
    materialization
        ``'latest'``, ``'live'``, a version number or a datetime.
    clean
        Drop autapses and partners with root 0.
    update_ids
        Map outdated IDs to the roots alive at the queried moment first.
    dataset
        Dataset name or snapshot path; ``None`` for the default.

    Returns
    -------
    pandas.DataFrame
        ``pre, post`` (uint64) and ``weight`` (int64, synapse count), sorted by weight
        descending, ties by ``pre`` then ``post`` (deterministic, unlike the reference).
        ``attrs`` holds provenance.
    """
    check_flags(upstream=upstream, downstream=downstream)
    if not upstream and not downstream:
        raise InvalidArgumentError("get_connectivity: upstream and downstream cannot both be False")
    check_threshold(threshold, min_size)
    check_flags(clean=clean, update_ids=update_ids)
    source, at = open_query(dataset, materialization)
    q = query_ids(source, at, neuron_ids, update_ids, "neuron_ids")
    cn = _partner_pairs(source, at, q.roots, upstream, downstream, min_size, clean)
    cn = cn[cn["weight"].to_numpy() >= threshold].reset_index(drop=True)
    cn.attrs = provenance(
        source, at, {"neuron_ids": q}, upstream=upstream, downstream=downstream,
        threshold=threshold, min_size=min_size, clean=clean, update_ids=update_ids,
    )
    return cn


def get_synapse_counts(
    neuron_ids: Any,
    threshold: int = 1,
    min_size: float | None = None,
    materialization: Any = "latest",
    clean: bool = True,
    update_ids: bool = True,
    dataset: Any = None,
) -> pd.DataFrame:
    """Synapse and partner totals per neuron.

    Counted from the thresholded connectivity of the neurons. The reference's ``pre`` /
    ``post`` columns count *partners*; to remove the ambiguity both are given under
    explicit names.

    Parameters
    ----------
    neuron_ids
        Root IDs (int, str, list, array, Series or ``NeuronCriteria``).
    threshold, min_size, materialization, clean, update_ids, dataset
        As for :func:`get_connectivity`.

    Returns
    -------
    pandas.DataFrame
        Indexed by the query IDs *as given* (``neuron_id``, uint64, first-seen order), so
        an ID that was updated keeps its row and its counts; ``attrs["root_ids"]`` maps each
        to the root it resolved to at the queried moment. Columns (all int64, so rows and
        transposes never mix ID and count dtypes, which would send IDs through float64):

        - ``pre_synapses``: synapses where the neuron is presynaptic (outputs);
        - ``post_synapses``: synapses where it is postsynaptic (inputs);
        - ``downstream_partners``: distinct postsynaptic partners (the reference's ``pre``);
        - ``upstream_partners``: distinct presynaptic partners (the reference's ``post``).

        Only pairs with at least ``threshold`` synapses count.
    """
    check_threshold(threshold, min_size)
    check_flags(clean=clean, update_ids=update_ids)
    source, at = open_query(dataset, materialization)
    q = query_ids(source, at, neuron_ids, update_ids, "neuron_ids")
    cn = _partner_pairs(source, at, q.roots, True, True, min_size, clean)
    cn = cn[cn["weight"].to_numpy() >= threshold]
    out_syn = cn.groupby("pre")["weight"].sum()
    in_syn = cn.groupby("post")["weight"].sum()
    out_partners = cn.groupby("pre").size()
    in_partners = cn.groupby("post").size()
    given = pd.unique(q.given)
    roots = pd.Series(q.mapping["new_id"].to_numpy(np.uint64), index=q.mapping["old_id"].to_numpy(np.uint64))
    root_of = roots.loc[given].to_numpy(np.uint64)

    def per_root(s: pd.Series) -> np.ndarray:
        s.index = s.index.astype(np.uint64)
        return s.reindex(root_of).fillna(0).to_numpy().astype(np.int64)

    out = pd.DataFrame(
        {
            "pre_synapses": per_root(out_syn),
            "post_synapses": per_root(in_syn),
            "downstream_partners": per_root(out_partners),
            "upstream_partners": per_root(in_partners),
        },
        index=pd.Index(given.astype(np.uint64), name="neuron_id"),
    )
    out.attrs = provenance(
        source, at, {"neuron_ids": q}, threshold=threshold, min_size=min_size, clean=clean,
        update_ids=update_ids,
    )
    out.attrs["root_ids"] = {int(g): int(r) for g, r in zip(given, root_of, strict=True)}
    return out
