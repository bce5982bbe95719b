"""Mapping root IDs to the roots that hold the same neuron at a given moment."""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import InvalidArgumentError, check_flag
from napari_crant.datasets import get_source
from napari_crant.ids import InvalidIDError, lookup_uint64, parse_ids, unique_in_order
from napari_crant.materialization import Materialization, resolve_materialization
from napari_crant.sources.base import DataSource

#: How long an ``update_ids`` answer stays in the cache, in seconds.
CACHE_TTL_S = 3600.0

_cache: dict[tuple[str, int, int], tuple[int, float, float]] = {}
_cache_lock = threading.Lock()


class UnknownIDError(InvalidIDError):
    """IDs that are not roots of the dataset at all."""


def clear_update_cache() -> None:
    """Empty the ``update_ids`` cache."""
    with _cache_lock:
        _cache.clear()


def _annotation_supervoxels(source: DataSource, ids: np.ndarray) -> np.ndarray:
    """A supervoxel of each ID from the annotation table (0 where none is known)."""
    ann = source.annotations()
    if ann.empty or "supervoxel_id" not in ann:
        return np.zeros(len(ids), np.uint64)
    ann = ann[["root_id", "supervoxel_id"]].dropna()
    sv = ann["supervoxel_id"].to_numpy().astype(np.uint64)
    roots = ann["root_id"].to_numpy().astype(np.uint64)
    return lookup_uint64(roots[sv != 0], sv[sv != 0], ids)


def _by_overlap(source: DataSource, old: np.ndarray, at: Materialization) -> tuple[np.ndarray, np.ndarray]:
    """For each old root: the root at ``at`` holding most of its L2 chunks, and that fraction."""
    new = old.copy()
    conf = np.zeros(len(old))
    l2, owner = source.l2_ids_many(old)
    if not len(l2):
        return new, conf
    total = np.bincount(owner, minlength=len(old))
    holders = source.roots_of_l2(l2, at)
    keep = holders != 0
    if not keep.any():
        return new, conf
    # chunks per (owner, holder) pair, in numpy (a pandas groupby costs more for 10^5 chunks)
    o, r = np.asarray(owner)[keep], holders[keep]
    order = np.lexsort((r, o))
    o, r = o[order], r[order]
    starts = np.flatnonzero(np.r_[True, (o[1:] != o[:-1]) | (r[1:] != r[:-1])])
    n = np.diff(np.r_[starts, len(o)])
    o, r = o[starts], r[starts]
    # per owner: most chunks first; ties -> smallest root ID
    best = np.lexsort((r, -n, o))
    best = best[np.r_[True, o[best][1:] != o[best][:-1]]]
    idx = o[best]
    new[idx] = r[best]
    conf[idx] = n[best] / total[idx]
    return new, conf


def resolve_ids(
    source: DataSource,
    ids: np.ndarray,
    at: Materialization,
    update: bool = True,
    supervoxels: np.ndarray | None = None,
    use_annotations: bool = True,
    name: str = "neuron_ids",
) -> pd.DataFrame:
    """Map IDs to the roots alive at ``at`` (:func:`resolve_id_arrays` as a frame).

    Returns
    -------
    pandas.DataFrame
        ``old_id, new_id, confidence, changed``: one row per distinct ID, first-seen order.
    """
    old, new, conf = resolve_id_arrays(source, ids, at, update, supervoxels, use_annotations, name)
    return pd.DataFrame({"old_id": old, "new_id": new, "confidence": conf, "changed": old != new})


def resolve_id_arrays(
    source: DataSource,
    ids: np.ndarray,
    at: Materialization,
    update: bool = True,
    supervoxels: np.ndarray | None = None,
    use_annotations: bool = True,
    name: str = "neuron_ids",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map IDs to the roots alive at ``at``.

    Parameters
    ----------
    source, at
        Dataset and moment.
    ids
        ``uint64`` IDs (duplicates allowed; the result has one row per distinct ID, in
        first-seen order).
    update
        Map IDs that are not alive at ``at``. If ``False`` such IDs are an error.
    supervoxels
        Optional supervoxel per ID (aligned with ``ids``; 0 = unknown).
    use_annotations
        Look up a supervoxel in the annotation table where none was passed.
    name
        Parameter name for error messages.

    Returns
    -------
    (old_id, new_id, confidence)
        Aligned arrays (``uint64``, ``uint64``, ``float64``), one per distinct ID in
        first-seen order.

    Raises
    ------
    UnknownIDError
        For IDs that were never roots of this dataset (all of them are named).
    """
    ids_given = np.asarray(ids, dtype=np.uint64)
    if len(ids_given) == 1:  # one ID (a single-neuron query): its status as two booleans, asked once
        one_known, one_alive = source.one_root_status(int(ids_given[0]), at)
        if one_known and one_alive:
            return ids_given, ids_given.copy(), np.ones(1)  # a root alive at `at`: nothing to map
        ids, known, alive = ids_given, np.array([one_known]), np.array([one_alive])
    else:
        ids = unique_in_order(ids_given)
        known, alive = source.root_status(ids, at)
    if not known.all():
        bad = ids[~known]
        shown = ", ".join(str(int(b)) for b in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise UnknownIDError(
            f"{name}: {len(bad)} ID(s) not in dataset {source.name!r}: {shown}"
        )
    if alive.all():  # the common case: every ID is a root alive at `at`
        return ids, ids.copy(), np.ones(len(ids))
    new = ids.copy()
    conf = np.ones(len(ids))
    todo = np.flatnonzero(~alive)
    if len(todo) and not update:
        shown = ", ".join(str(int(b)) for b in ids[todo][:10])
        raise InvalidIDError(
            f"{name}: root ID(s) {shown} are not current at {at.requested} "
            f"({at.timestamp.isoformat()}); pass update_ids=True to map them to their "
            "current roots"
        )
    key = source.cache_key
    t_us = at.timestamp_us
    now = time.monotonic()
    uncached = []
    with _cache_lock:
        for i in todo:
            hit = _cache.get((key, int(ids[i]), t_us))
            if hit is not None and now - hit[2] < CACHE_TTL_S:
                new[i], conf[i] = hit[0], hit[1]
            else:
                uncached.append(i)
    uncached = np.asarray(uncached, dtype=np.int64)
    if len(uncached):
        old = ids[uncached]
        sv = np.zeros(len(old), np.uint64)
        if supervoxels is not None:
            sv = lookup_uint64(ids_given, np.asarray(supervoxels, np.uint64), old)
        if use_annotations and (sv == 0).any():
            from_ann = _annotation_supervoxels(source, old)
            sv = np.where(sv == 0, from_ann, sv)
        via_sv = source.roots_of_supervoxels(sv, at)
        res_new = np.where(via_sv != 0, via_sv, old)
        res_conf = np.where(via_sv != 0, 1.0, 0.0)
        rest = np.flatnonzero(via_sv == 0)
        if len(rest):
            n2, c2 = _by_overlap(source, old[rest], at)
            res_new[rest], res_conf[rest] = n2, c2
        new[uncached], conf[uncached] = res_new, res_conf
        with _cache_lock:
            for o, n, c in zip(old, res_new, res_conf, strict=True):
                _cache[(key, int(o), t_us)] = (int(n), float(c), now)
    lost = ids[(conf == 0)]
    if len(lost):
        warnings.warn(
            f"dataset {source.name!r}: no successor found at {at.timestamp.isoformat()} for root "
            "ID(s) " + ", ".join(str(int(x)) for x in lost[:10])
            + "; keeping the old ID(s). Their neurons may be gone at that moment: check the IDs, or "
            "pass a supervoxel of each neuron (update_ids(..., supervoxels=...)).",
            stacklevel=3,
        )
    return ids, new.astype(np.uint64), conf


def update_ids(
    ids: Any,
    supervoxels: Any = None,
    timestamp: Any = "live",
    dataset: Any = None,
    use_annotations: bool = True,
) -> pd.DataFrame:
    """Map root IDs to the roots that hold the same neurons at ``timestamp``.

    For each ID: a root alive at ``timestamp`` is kept (confidence 1). Otherwise, if a
    supervoxel of the neuron is known (``supervoxels``, or the annotation table), the new
    root is that supervoxel's root at ``timestamp`` (confidence 1). Otherwise the root
    holding the largest fraction of the old root's level-2 chunks is taken (confidence =
    that fraction). Without any successor the old ID is kept with confidence 0 and a
    warning. Unlike the reference, mapping also works *backwards* (an ID newer than
    ``timestamp`` maps to the root that held the neuron then), and answers are cached per
    (dataset, ID, timestamp) for :data:`CACHE_TTL_S` seconds.

    Parameters
    ----------
    ids
        Root IDs (int, str, list, array, Series or ``NeuronCriteria``).
    supervoxels
        Optional supervoxel IDs aligned with ``ids`` (0 or missing = unknown).
    timestamp
        ``'live'`` (default, now), ``'latest'``, a materialization version or a datetime.
    dataset
        Dataset name or path; ``None`` for the default.
    use_annotations
        Use supervoxels recorded in the annotation table.

    Returns
    -------
    pandas.DataFrame
        One row per input ID (in input order): ``old_id, new_id`` (uint64),
        ``confidence`` (float), ``changed`` (bool). ``attrs`` holds provenance.
    """
    check_flag(use_annotations, "use_annotations")
    source = get_source(dataset)
    at = resolve_materialization(source, timestamp, "timestamp")
    arr = parse_ids(ids, "ids")
    sv = None
    if supervoxels is not None:
        sv = parse_ids(supervoxels, "supervoxels")
        if len(sv) != len(arr):
            raise InvalidArgumentError(
                f"supervoxels has {len(sv)} values but ids has {len(arr)}; they must align"
            )
    res = resolve_ids(source, arr, at, update=True, supervoxels=sv,
                      use_annotations=use_annotations, name="ids")
    out = res.set_index("old_id").loc[arr].reset_index()
    out["old_id"] = out["old_id"].astype(np.uint64)
    out.attrs.update(source.describe(), **at.describe())
    return out
