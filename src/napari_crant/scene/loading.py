"""Loading neurons for the viewer from the query core: skeletons, synapses, partners.

:func:`load_neurons` is a generator reporting progress (run it in a napari
``thread_worker``, or to the end with :func:`run_to_end`); its :class:`LoadResult` is what a
:class:`~napari_crant.scene.layer_data.Scene` adds. Qt-free.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.ids import unique_first, unique_in_order
from napari_crant.scene.neuron_data import (
    NeuronData,
    NodeSkeleton,
    neuron_data,
    synapse_id_text,
    synapse_table,
)
from napari_crant.scene.tables import partner_table

#: annotation columns shown next to partners (those the dataset has).
ANNOTATION_COLUMNS = ("cell_type", "cell_class", "super_class", "side", "status", "known_nt")


def _status_text(value: Any) -> Any:
    """List-valued annotation fields (``status``) as one comma-separated string."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(str(v) for v in value)
    return value


_ANNOTATION_CACHE: dict[tuple[str, int], tuple[float, pd.DataFrame]] = {}
_ANNOTATION_CACHE_SIZE = 4
#: Seconds a cached answer is used: annotation tables (e.g. on CAVE) change over time.
ANNOTATION_CACHE_S = 300.0


def current_annotations(source: Any, at: Any) -> pd.DataFrame:
    """Annotation rows keyed by the root each annotated neuron has at ``at``.

    Annotations record the root ID at annotation time, which later edits make outdated;
    their ``supervoxel_id`` does not change, so it is mapped to its root at ``at``. Results
    are cached per (dataset, timestamp) for :data:`ANNOTATION_CACHE_S` seconds (annotations
    themselves can change).

    Returns
    -------
    pandas.DataFrame
        ``root_id`` (uint64, current at ``at``) and the :data:`ANNOTATION_COLUMNS` the dataset
        has, as text; one row per root (the first annotation wins).
    """
    key = (source.cache_key, at.timestamp_us)
    now = time.monotonic()
    cached = _ANNOTATION_CACHE.get(key)
    if cached is None or now - cached[0] > ANNOTATION_CACHE_S:
        _ANNOTATION_CACHE.pop(key, None)
        if len(_ANNOTATION_CACHE) >= _ANNOTATION_CACHE_SIZE:
            _ANNOTATION_CACHE.pop(next(iter(_ANNOTATION_CACHE)))
        cached = (now, _current_annotations(source, at))
        _ANNOTATION_CACHE[key] = cached
    return cached[1].copy()


def _current_annotations(source: Any, at: Any) -> pd.DataFrame:
    ann = source.annotations()
    cols = [c for c in ANNOTATION_COLUMNS if c in ann.columns]
    if ann.empty:
        return pd.DataFrame({"root_id": np.array([], np.uint64), **{c: [] for c in cols}})
    roots = ann["root_id"].to_numpy().astype(np.uint64)
    if "supervoxel_id" in ann.columns:
        sv = ann["supervoxel_id"].fillna(0).to_numpy().astype(np.uint64) if ann[
            "supervoxel_id"].dtype.kind == "f" else ann["supervoxel_id"].to_numpy().astype(np.uint64)
        now = source.roots_of_supervoxels(sv, at)
        roots = np.where(now != 0, now, roots).astype(np.uint64)
    first = unique_first(roots)  # one row per root, the first annotation wins
    first.sort()
    out = pd.DataFrame({"root_id": roots[first]})
    for c in cols:
        values = ann[c].to_numpy(dtype=object)[first]
        out[c] = [_status_text(v) for v in values] if c == "status" else values
    return out


@dataclass
class LoadResult:
    """What one load adds to a :class:`~napari_crant.scene.layer_data.Scene`.

    Attributes
    ----------
    neurons
        Canvas data of each loaded neuron.
    partners
        :func:`partner_table` of the loaded neurons.
    connectivity
        The ``pre, post, weight`` edge list (``attrs``: provenance).
    updated
        ``{given ID: root shown}`` for IDs that were edited since.
    provenance
        Dataset, materialization, version, timestamp and filters of the query.
    annotations
        :func:`current_annotations` at the query's materialization.
    synapses
        The neurons' synapses as one table with ``root_id`` (built in the worker, see
        :func:`~napari_crant.scene.neuron_data.synapse_table`).
    requested
        How many neurons were asked for (more than ``len(neurons)`` after a cancel).
    split
        ``{given ID: [other piece, ...]}`` for updated IDs whose neuron was split since:
        the pieces not shown (largest first).
    synapse_text
        The ID columns of ``synapses`` as text, row for row (the layers' features; built in
        the worker, see :func:`~napari_crant.scene.neuron_data.synapse_id_text`).
    """

    neurons: list[NeuronData]
    partners: pd.DataFrame
    connectivity: pd.DataFrame
    updated: dict[int, int]
    provenance: dict[str, Any]
    annotations: pd.DataFrame = field(default_factory=pd.DataFrame)
    synapses: pd.DataFrame | None = None
    requested: int = 0
    split: dict[int, list[int]] = field(default_factory=dict)
    synapse_text: pd.DataFrame | None = None

    @property
    def cancelled(self) -> bool:
        """Whether the load was cancelled part way (``neurons`` holds what was loaded)."""
        return len(self.neurons) < self.requested


def update_messages(updated: dict[int, int], split: dict[int, list[int]] | None = None) -> list[str]:
    """Plain-language lines reporting updated IDs (and the pieces of split neurons not shown)."""
    split = split or {}
    lines = []
    for old, new in updated.items():
        rest = split.get(int(old), [])
        if rest:
            others = ", ".join(str(p) for p in rest[:5]) + (" …" if len(rest) > 5 else "")
            lines.append(f"{old} was split since; showing the piece {new}; "
                         f"{len(rest)} other piece{'s' if len(rest) != 1 else ''}: {others}")
        else:
            lines.append(f"{old} was edited; showing {new} instead")
    return lines


def load_neurons(
    ids: Any,
    *,
    dataset: Any = None,
    materialization: Any = "latest",
    threshold: int = 1,
    min_size: float | None = None,
    clean: bool = True,
    update_ids: bool = True,
    max_distance: float = 10_000,
    top_partners: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[tuple[int, int, str], None, LoadResult]:
    """Fetch skeletons, synapses and partners of neurons; a generator reporting progress.

    Use as ``result = yield from load_neurons(...)`` inside a napari ``thread_worker``
    (each ``yield`` is a point where a cancel takes effect), or drive it to the end with
    :func:`run_to_end`.

    Parameters
    ----------
    ids
        Root IDs (anything :func:`~napari_crant.ids.parse_ids` takes).
    dataset, materialization, threshold, min_size, clean, update_ids, max_distance
        As for :func:`~napari_crant.attach_synapses` / :func:`~napari_crant.get_connectivity`.
    top_partners
        Also load the skeletons and synapses of this many strongest partners (any direction).
    should_stop
        Asked after each skeleton; when it answers ``True`` the load stops fetching skeletons
        and returns the neurons fetched so far, with their synapses and partners (a cancel that
        keeps what was loaded; :attr:`LoadResult.cancelled`).

    Yields
    ------
    (step, total, message)
        Progress.

    Returns
    -------
    LoadResult
    """
    from napari_crant.queries.attach import attach_to_skeletons
    from napari_crant.queries.common import open_query, query_ids
    from napari_crant.queries.connectivity import get_connectivity
    from napari_crant.queries.skeleton import skeleton_with_soma
    from napari_crant.queries.successors import other_pieces

    yield 0, 1, "opening dataset"
    source, at = open_query(dataset, materialization)
    q = query_ids(source, at, ids, update_ids, "neuron_ids")
    root_of_given = q.root_of_given()
    _, first = np.unique(q.given, return_index=True)
    roots = unique_in_order(root_of_given[np.sort(first)])
    query_of = {int(r): int(g) for g, r in zip(q.given, root_of_given, strict=True)}
    yield 0, len(roots) + 3, "connectivity"
    if should_stop is not None and should_stop():  # cancelled before anything was loaded
        return LoadResult([], pd.DataFrame(), pd.DataFrame(), {}, {}, requested=len(roots))
    conn = get_connectivity(roots, threshold=threshold, min_size=min_size, materialization=at,
                            clean=clean, update_ids=False, dataset=source)
    if top_partners > 0 and len(conn):
        pt = partner_table(conn, roots)
        pt = pt[~np.isin(pt["partner_id"].to_numpy(np.uint64), roots)]
        best = pt.groupby("partner_id", sort=False)["weight"].sum().sort_values(
            ascending=False, kind="stable")
        extra = np.array(best.index[:top_partners], dtype=np.uint64)
        if len(extra):
            extra_conn = get_connectivity(extra, threshold=threshold, min_size=min_size,
                                          materialization=at, clean=clean, update_ids=False,
                                          dataset=source)
            attrs = conn.attrs
            conn = pd.concat([conn, extra_conn], ignore_index=True).drop_duplicates(["pre", "post"])
            conn.attrs = attrs
            roots = np.concatenate([roots, extra]).astype(np.uint64)
    total = len(roots) + 3  # skeletons, synapses, annotations
    skeletons = []
    requested = len(roots)
    for i, root in enumerate(roots):
        if should_stop is not None and should_stop():
            break
        yield i + 1, total, f"skeleton of {int(root)}"
        skeletons.append(NodeSkeleton(int(root), *skeleton_with_soma(source, int(root))))
    if len(skeletons) < len(roots):  # cancelled: keep the neurons fetched so far
        roots = roots[:len(skeletons)]
        conn = _edges_of(conn, roots)
    yield total - 2, total, "synapses"
    # one query per direction for all neurons (not one per neuron)
    if skeletons:
        attach_to_skeletons(skeletons, threshold=threshold, min_size=min_size,
                            materialization=at, clean=clean, max_distance=max_distance,
                            update_ids=False, dataset=source)
    neurons = [neuron_data(sk, query_of.get(int(root), int(root)))
               for sk, root in zip(skeletons, roots, strict=True)]
    synapses = synapse_table(neurons)
    yield total - 1, total, "annotations"
    ann = current_annotations(source, at)
    partners = partner_table(conn, roots, ann)
    prov = dict(conn.attrs)
    prov["filters"] = {
        "threshold": threshold, "min_size": min_size, "clean": clean, "update_ids": update_ids,
        "max_distance": max_distance,
    }
    prov["updated_ids"] = q.updated()
    split = other_pieces(source, q.updated(), at)
    yield total, total, "done"
    return LoadResult(neurons, partners, conn, q.updated(), prov, ann, synapses, requested, split,
                      synapse_id_text(synapses))


def _edges_of(conn: pd.DataFrame, roots: np.ndarray) -> pd.DataFrame:
    """The rows of an edge list touching ``roots`` (provenance kept)."""
    keep = (np.isin(conn["pre"].to_numpy(np.uint64), roots)
            | np.isin(conn["post"].to_numpy(np.uint64), roots))
    out = conn[keep].reset_index(drop=True)
    out.attrs = conn.attrs
    return out


def run_to_end(gen: Generator[Any, None, Any]) -> Any:
    """Exhaust a progress generator and return its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def pick_demo_neuron(dataset: Any = "demo", candidates: int = 200) -> int:
    """A well-connected annotated neuron to show first (deterministic).

    Uses ``napari_crant.demo.DEMO_NEURON`` when the demo module defines it; otherwise, among
    the first ``candidates`` annotated neurons with a cell type (by current root ID), the one
    with the most synapses at the latest version.
    """
    from napari_crant.queries.common import open_query

    source, at = open_query(dataset, "latest")
    if str(dataset) == "demo":
        try:
            from napari_crant import demo

            fixed = getattr(demo, "DEMO_NEURON", None)
        except ImportError:  # pragma: no cover - demo module not present
            fixed = None
        if fixed is not None and source.root_status(np.array([fixed], np.uint64), at)[0][0]:
            return int(fixed)  # only if "demo" is the generated demo (tests may register another)
    ann = current_annotations(source, at)
    if "cell_type" in ann:
        typed = ann[ann["cell_type"].map(lambda v: isinstance(v, str) and bool(v)).to_numpy(bool)]
        ann = typed if len(typed) else ann
    if ann.empty:
        raise ValueError(f"dataset {source.name!r} has no annotated neurons to pick from")
    roots = np.sort(ann["root_id"].to_numpy(np.uint64))[:candidates]
    _known, alive = source.root_status(roots, at)
    roots = roots[alive] if alive.any() else roots
    pre = source.synapses(roots, None, at)["pre_pt_root_id"].to_numpy(np.uint64)
    post = source.synapses(None, roots, at)["post_pt_root_id"].to_numpy(np.uint64)
    both = np.concatenate([pre, post])
    counts = np.array([(both == r).sum() for r in roots])
    return int(roots[int(np.argmax(counts))])
