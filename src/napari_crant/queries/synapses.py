"""``get_synapses``: one row per synapse of the given neurons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import InvalidArgumentError, check_flags, check_threshold
from napari_crant.queries.common import (
    filter_synapses,
    open_query,
    pre_post_ids,
    provenance,
)

POSITION_PREFIXES = ("pre_pt_position", "post_pt_position", "ctr_pt_position")


def format_positions(
    syn: pd.DataFrame, resolution: np.ndarray, return_pixels: bool, split_positions: bool
) -> pd.DataFrame:
    """Turn split nm position columns into the requested form.

    Voxel coordinates are ``nm / resolution`` exactly (float64, no flooring). The result is a
    new frame (``syn`` is not changed), built once from its columns: with ``split_positions``
    the position columns stay where they were, as float64; without it they are replaced by one
    column per point at the end (``pre_pt_position, post_pt_position, ctr_pt_position``), each
    cell a float64 ``[x, y, z]`` array (a row of one ``(n, 3)`` array per point).
    """
    n = len(syn)
    points: dict[str, np.ndarray] = {}  # column name -> float64 values
    joined: dict[str, np.ndarray] = {}  # prefix -> object column of [x, y, z] rows
    for prefix in POSITION_PREFIXES:
        xyz = np.empty((n, 3), dtype=np.float64)
        for i, axis in enumerate("xyz"):
            xyz[:, i] = syn[f"{prefix}_{axis}"].to_numpy()
        if return_pixels:
            xyz /= resolution
        if split_positions:
            points.update({f"{prefix}_{a}": xyz[:, i] for i, a in enumerate("xyz")})
        else:
            cells = np.empty(n, dtype=object)
            if n:
                cells[:] = list(xyz)
            joined[prefix] = cells
    position_columns = {f"{p}_{a}" for p in POSITION_PREFIXES for a in "xyz"}
    columns: dict[str, np.ndarray] = {}
    for name in syn.columns:
        if name in points:
            columns[name] = points[name]
        elif name not in position_columns:
            columns[name] = syn[name].to_numpy(copy=True)
    columns.update(joined)
    out = pd.DataFrame(columns, index=syn.index.copy(), copy=False)
    out.attrs = dict(syn.attrs)
    return out


def get_synapses(
    pre_ids: Any = None,
    post_ids: Any = None,
    threshold: int = 1,
    min_size: float | None = None,
    materialization: Any = "latest",
    return_pixels: bool = True,
    clean: bool = True,
    update_ids: bool = True,
    dataset: Any = None,
    split_positions: bool = False,
) -> pd.DataFrame:
    """Fetch the synapses of the given pre- and/or postsynaptic neurons.

    Order of operations: validate IDs -> update IDs (to the roots alive at the queried
    materialization) -> rows with pre in ``pre_ids`` (and post in ``post_ids`` when both are
    given) -> ``min_size`` -> ``threshold`` per (pre, post) pair -> ``clean`` -> coordinates.

    Parameters
    ----------
    pre_ids, post_ids
        Root IDs (int, str, list, array, Series or ``NeuronCriteria``); at least one.
    threshold
        Minimum number of synapses per (pre, post) pair; pairs below it are dropped.
    min_size
        Drop synapses with ``size < min_size`` before any counting.
    materialization
        ``'latest'``, ``'live'``, a version number or a datetime.
    return_pixels
        Positions in voxels (8 x 8 x 42 nm) instead of nm. Unlike the reference, voxel
        positions are exact (``nm / resolution``), not floored.
    clean
        Drop autapses and rows whose pre or post root is 0.
    update_ids
        Map outdated IDs to the roots alive at the queried moment first. With ``False``,
        an ID that is not alive then is an error.
    dataset
        Dataset name or snapshot path; ``None`` for the default.
    split_positions
        Give positions as ``<col>_x, <col>_y, <col>_z`` columns instead of one column of
        ``[x, y, z]`` arrays.

    Returns
    -------
    pandas.DataFrame
        ``id, pre_pt_root_id, post_pt_root_id, pre_pt_supervoxel_id, post_pt_supervoxel_id,
        size`` and the three positions, sorted by ``id``; IDs are uint64. ``attrs`` holds
        provenance (dataset, version, timestamp, filters, updated IDs).

    Raises
    ------
    ValueError
        Neither ``pre_ids`` nor ``post_ids``; bad IDs, threshold or materialization.
    """
    if pre_ids is None and post_ids is None:
        raise InvalidArgumentError("get_synapses needs pre_ids, post_ids or both")
    check_threshold(threshold, min_size)
    check_flags(return_pixels=return_pixels, clean=clean, update_ids=update_ids,
                split_positions=split_positions)
    source, at = open_query(dataset, materialization)
    ids = pre_post_ids(source, at, pre_ids, post_ids, update_ids)
    syn = source.synapses(
        ids["pre_ids"].roots if "pre_ids" in ids else None,
        ids["post_ids"].roots if "post_ids" in ids else None,
        at,
    )
    syn = filter_synapses(syn, threshold, min_size, clean)
    syn = format_positions(syn, source.voxel_resolution, return_pixels, split_positions)
    syn.attrs = provenance(
        source, at, ids, threshold=threshold, min_size=min_size, clean=clean,
        update_ids=update_ids, return_pixels=return_pixels,
    )
    return syn
