"""``get_connectivity`` (edge lists) and ``get_synapse_counts`` (per-neuron totals)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import InvalidArgumentError, check_flags, check_threshold
from napari_crant.ids import in_sorted, lookup_uint64, unique_in_order
from napari_crant.queries.common import (
    dense_pairs,
    keep_filtered,
    open_query,
    pair_count_arrays,
    provenance,
    query_ids,
)
from napari_crant.queries.edge_frame import edge_frame
from napari_crant.queries.grouped_pairs import grouped_pair_totals
from napari_crant.queries.one_neuron import one_root_edges
from napari_crant.queries.side_by_side import side_by_side
from napari_crant.sources.base import DataSource


def _partner_pairs(
    source: DataSource, at: Any, roots: np.ndarray, upstream: bool, downstream: bool,
    min_size: float | None, clean: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``ids`` (rows ``pre, post``; uint64, C order) and ``weight`` of the union of both
    directions, filtered (arrays, no row frames), heaviest first, ties by ``(pre, post)``.

    Same steps as :func:`~napari_crant.queries.common.filter_synapses` followed by
    :func:`~napari_crant.queries.common.pair_counts`, on numpy arrays: this is the hot
    path of a single-neuron query. ``roots`` are sorted and distinct.
    """
    if len(roots) == 1:
        return one_root_edges(source, at, roots[0], upstream, downstream, min_size, clean)
    return _many_roots_pairs(source, at, roots, upstream, downstream, min_size, clean)


def _many_roots_pairs(
    source: DataSource, at: Any, roots: np.ndarray, upstream: bool, downstream: bool,
    min_size: float | None, clean: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_partner_pairs` of any number of neurons (the general path)."""
    parts = []
    columns = ("size",) if min_size is not None else ()
    if downstream:
        parts.append(source.synapse_columns(roots, None, at, columns))
    if upstream:
        up = source.synapse_columns(None, roots, at, columns)
        if downstream:  # a synapse between two query neurons is in both parts: keep one
            drop = in_sorted(up["pre_pt_root_id"], roots)
            up = {k: v[~drop] for k, v in up.items()}
        parts.append(up)
    syn = {k: np.concatenate([p[k] for p in parts]) for k in ("pre_pt_root_id", "post_pt_root_id", *columns)}
    keep = keep_filtered(syn, 1, min_size, clean)
    pre, post, weight = pair_count_arrays(syn["pre_pt_root_id"][keep], syn["post_pt_root_id"][keep])
    return np.stack((pre, post)), weight


def _side_totals(
    source: DataSource, at: Any, roots: np.ndarray, side: str, threshold: int,
    min_size: float | None, clean: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Synapses and distinct partners of each of ``roots`` (sorted, distinct) on one side
    (``'pre'``: its outputs), counting only pairs of at least ``threshold`` synapses.

    Every pair with the neuron on ``side`` is among that side's rows, so each side is
    counted on its own rows: each neuron's partners sorted on their own when its rows are
    contiguous (:func:`~napari_crant.queries.grouped_pairs.grouped_pair_totals`), else
    vectorised over all neurons (hashed dense codes, one sort).
    """
    columns = ("size",) if min_size is not None else ()
    syn = (source.synapse_columns(roots, None, at, columns) if side == "pre"
           else source.synapse_columns(None, roots, at, columns))
    keep = keep_filtered(syn, 1, min_size, clean)
    mine, other = ((syn["pre_pt_root_id"], syn["post_pt_root_id"]) if side == "pre"
                   else (syn["post_pt_root_id"], syn["pre_pt_root_id"]))
    if not keep.all():
        mine, other = mine[keep], other[keep]
    totals = np.zeros(len(roots), np.int64), np.zeros(len(roots), np.int64)
    if not len(mine):
        return totals
    grouped = grouped_pair_totals(mine, other, threshold)
    if grouped is not None:
        slot = np.searchsorted(roots, grouped[0])  # every row's neuron is one of ``roots``
        totals[0][slot], totals[1][slot] = grouped[1], grouped[2]
        return totals
    code, uniq, _, weight = dense_pairs(mine, other)
    heavy = weight >= threshold
    pair_slot = pd.Index(roots).get_indexer(uniq)[code[heavy]]
    synapses = np.bincount(pair_slot, weights=weight[heavy], minlength=len(roots)).astype(np.int64)
    partners = np.bincount(pair_slot, minlength=len(roots)).astype(np.int64)
    return synapses, partners


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
    ids, weight = _partner_pairs(source, at, q.roots, upstream, downstream, min_size, clean)
    if threshold > 1:
        heavy = weight >= threshold
        ids, weight = np.compress(heavy, ids, axis=1), weight[heavy]
    # the arrays are fresh (made by the pair counting): the frame can own them as they are
    cn = edge_frame(ids, weight)
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
    given = unique_in_order(q.given)
    root_of = lookup_uint64(q.old_ids, q.new_ids, given)
    slot = pd.Index(q.roots).get_indexer(root_of)  # every resolved root is in q.roots
    # outputs and inputs side by side on two threads (see ``side_by_side.py``)
    (pre_synapses, downstream), (post_synapses, upstream) = side_by_side(
        source, len(q.roots),
        lambda: _side_totals(source, at, q.roots, "pre", threshold, min_size, clean),
        lambda: _side_totals(source, at, q.roots, "post", threshold, min_size, clean))
    out = pd.DataFrame(
        {
            "pre_synapses": pre_synapses[slot],
            "post_synapses": post_synapses[slot],
            "downstream_partners": downstream[slot],
            "upstream_partners": upstream[slot],
        },
        index=pd.Index(given, name="neuron_id"),
    )
    out.attrs = provenance(
        source, at, {"neuron_ids": q}, threshold=threshold, min_size=min_size, clean=clean,
        update_ids=update_ids,
    )
    out.attrs["root_ids"] = {int(g): int(r) for g, r in zip(given, root_of, strict=True)}
    return out
