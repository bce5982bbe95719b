"""``get_adjacency``: synapse counts between neurons as a matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import InvalidArgumentError, check_flags, check_threshold
from napari_crant.ids import sorted_unique
from napari_crant.queries.common import (
    keep_filtered,
    open_query,
    pre_post_ids,
    provenance,
)


def get_adjacency(
    pre_ids: Any = None,
    post_ids: Any = None,
    threshold: int = 1,
    min_size: float | None = None,
    materialization: Any = "latest",
    symmetric: bool = False,
    clean: bool = True,
    update_ids: bool = True,
    dataset: Any = None,
) -> pd.DataFrame:
    """Adjacency matrix of synapse counts from presynaptic to postsynaptic neurons.

    Parameters
    ----------
    pre_ids, post_ids
        Root IDs (int, str, list, array, Series or ``NeuronCriteria``); at least one.
    threshold, min_size, materialization, clean, update_ids, dataset
        As for :func:`~napari_crant.get_synapses`.
    symmetric
        ``False``: rows are the distinct presynaptic roots found, columns the distinct
        postsynaptic roots found. ``True``: the sorted union of both on both axes.

    Returns
    -------
    pandas.DataFrame
        int64 counts; index ``pre`` and columns ``post`` hold uint64 root IDs (as resolved
        at the queried moment; ``attrs['updated_ids']`` lists any mapping). With no
        synapses: an all-zero matrix on the (resolved) query IDs.
    """
    if pre_ids is None and post_ids is None:
        raise InvalidArgumentError("get_adjacency needs pre_ids, post_ids or both")
    check_threshold(threshold, min_size)
    check_flags(symmetric=symmetric, clean=clean, update_ids=update_ids)
    source, at = open_query(dataset, materialization)
    ids = pre_post_ids(source, at, pre_ids, post_ids, update_ids)
    pre_roots = ids["pre_ids"].roots if "pre_ids" in ids else None
    post_roots = ids["post_ids"].roots if "post_ids" in ids else None
    syn = source.synapse_columns(pre_roots, post_roots, at, ("size",) if min_size is not None else ())
    keep = keep_filtered(syn, threshold, min_size, clean)
    pre, post = syn["pre_pt_root_id"][keep], syn["post_pt_root_id"][keep]
    if len(pre) == 0:
        rows = pre_roots if pre_roots is not None else np.array([], np.uint64)
        cols = post_roots if post_roots is not None else np.array([], np.uint64)
        if symmetric:
            rows = cols = np.union1d(rows, cols).astype(np.uint64)
    elif symmetric:
        rows = cols = np.union1d(pre, post)
    else:
        rows, cols = sorted_unique(pre), sorted_unique(post)
    r = pd.Index(rows).get_indexer(pre)  # hashed: faster than a binary search per synapse
    c = pd.Index(cols).get_indexer(post)
    counts = np.bincount(r * len(cols) + c, minlength=len(rows) * len(cols)).astype(np.int64)
    adj = pd.DataFrame(
        counts.reshape(len(rows), len(cols)),
        index=pd.Index(rows.astype(np.uint64), name="pre"),
        columns=pd.Index(cols.astype(np.uint64), name="post"),
    )
    adj.attrs = provenance(
        source, at, ids, threshold=threshold, min_size=min_size, clean=clean,
        update_ids=update_ids, symmetric=symmetric,
    )
    return adj
