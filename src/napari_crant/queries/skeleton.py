"""``get_l2_skeleton``: a neuron's level-2 graph as a navis TreeNeuron (like CAVE's L2 skeletons)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import check_flag
from napari_crant.datasets import get_source
from napari_crant.ids import in_sorted, parse_ids, unique_in_order
from napari_crant.materialization import resolve_materialization
from napari_crant.queries.update import resolve_ids
from napari_crant.sources.base import DataSource


def skeleton_nodes(source: DataSource, root_id: int) -> pd.DataFrame:
    """SWC-like node table of one root's L2 skeleton.

    Nodes are the root's L2 chunks at their representative points (nm) with radius
    ``max_dt_nm``. The L2 graph is reduced to its minimum spanning tree (edge length =
    distance) and each connected component is rooted at its thickest node, which for a
    neuron with a soma is in the soma.

    Returns
    -------
    pandas.DataFrame
        ``node_id`` (int64, 0..n-1), ``parent_id`` (-1 at roots), ``x, y, z`` (nm),
        ``radius`` (nm) and ``l2_id`` (uint64).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import (
        breadth_first_order,
        connected_components,
        minimum_spanning_tree,
    )

    l2 = source.l2_ids(root_id)
    attrs = source.l2_attributes(l2).sort_values("l2_id").reset_index(drop=True)
    n = len(attrs)
    if n == 0:
        raise ValueError(f"root {root_id} has no level-2 chunks with attributes")
    ids = attrs["l2_id"].to_numpy(np.uint64)
    xyz = attrs[["x", "y", "z"]].to_numpy(np.float64)
    radius = attrs["max_dt_nm"].to_numpy(np.float64)
    edges = source.l2_graph(root_id)
    a = np.searchsorted(ids, edges[:, 0]) if len(edges) else np.array([], int)
    b = np.searchsorted(ids, edges[:, 1]) if len(edges) else np.array([], int)
    ok = (a < n) & (b < n)
    a, b = a[ok], b[ok]
    ok = (ids[a] == edges[ok, 0]) & (ids[b] == edges[ok, 1]) & (a != b)
    a, b = a[ok], b[ok]
    # +1 nm so that coincident points still form an edge in the sparse graph
    w = np.linalg.norm(xyz[a] - xyz[b], axis=1) + 1.0
    graph = coo_matrix((w, (a, b)), shape=(n, n)).tocsr()
    tree = minimum_spanning_tree(graph + graph.T)
    tree = tree + tree.T
    n_comp, labels = connected_components(tree, directed=False)
    parent = np.full(n, -1, dtype=np.int64)
    for comp in range(n_comp):
        members = np.flatnonzero(labels == comp)
        start = members[np.argmax(radius[members])]
        _, pred = breadth_first_order(tree, start, directed=False, return_predecessors=True)
        sel = members[members != start]
        parent[sel] = pred[sel]
    return pd.DataFrame({
        "node_id": np.arange(n, dtype=np.int64),
        "parent_id": parent,
        "x": xyz[:, 0],
        "y": xyz[:, 1],
        "z": xyz[:, 2],
        "radius": radius,
        "l2_id": ids,
    })


def get_l2_skeleton(
    root_ids: Any,
    update_ids: bool = False,
    materialization: Any = "live",
    dataset: Any = None,
) -> Any:
    """Skeletons of neurons from their level-2 graphs.

    Parameters
    ----------
    root_ids
        Root IDs: one (int or str) or a collection (list, tuple, set, generator, dict keys,
        array, Series or ``NeuronCriteria``).
    update_ids
        First map each ID to its root at ``materialization`` (default: now). With
        ``False`` the skeleton of exactly the given root is built (roots are immutable,
        so an outdated ID still has its old shape).
    materialization
        Moment for ``update_ids``.
    dataset
        Dataset name or snapshot path; ``None`` for the default.

    Returns
    -------
    navis.TreeNeuron or navis.NeuronList
        A TreeNeuron (units nm, ``id`` = root ID) for one ID, a NeuronList for a
        collection (even of one ID).
        Nodes carry ``radius`` (from ``max_dt_nm``) and ``l2_id``; the soma is the root
        node when the neuron has a nucleus.
    """
    import navis

    check_flag(update_ids, "update_ids")
    # one ID gives one TreeNeuron; any collection (also a set, generator or dict) a NeuronList
    single = isinstance(root_ids, str | int | np.integer)
    source = get_source(dataset)
    given = parse_ids(root_ids, "root_ids")
    at = resolve_materialization(source, materialization)
    mapping = resolve_ids(source, unique_in_order(given), at, update=True, name="root_ids")
    if not update_ids:
        mapping["new_id"] = mapping["old_id"]
    neurons = []
    for old, root in zip(mapping["old_id"], mapping["new_id"], strict=True):
        nodes, soma = skeleton_with_soma(source, int(root))
        n = navis.TreeNeuron(nodes, units="1 nm", id=int(root), name=str(int(root)))
        if soma is not None:
            n.soma = soma
        n.root_id = np.uint64(root)
        n.query_id = np.uint64(old)
        n.dataset = source.name
        neurons.append(n)
    return neurons[0] if single else navis.NeuronList(neurons)


def skeleton_with_soma(source: DataSource, root_id: int) -> tuple[pd.DataFrame, int | None]:
    """:func:`skeleton_nodes` of one root and its soma node: the first node on an L2 chunk holding
    a nucleus (``None`` without one). What :func:`get_l2_skeleton` makes a TreeNeuron of; the
    viewer draws it without navis (~1.5 s to import)."""
    nodes = skeleton_nodes(source, root_id)
    has_soma = in_sorted(nodes["l2_id"].to_numpy(np.uint64), _nucleus_l2(source))
    soma = int(nodes["node_id"][has_soma].iloc[0]) if has_soma.any() else None
    return nodes, soma


_NUCLEUS_L2: dict[str, np.ndarray] = {}


def _nucleus_l2(source: DataSource) -> np.ndarray:
    """The L2 chunks holding a nucleus (sorted; cached per dataset: supervoxels never move)."""
    cached = _NUCLEUS_L2.get(source.cache_key)
    if cached is None:
        nuc = source.nuclei()
        sv = nuc["supervoxel_id"].to_numpy(np.uint64) if len(nuc) else np.array([], np.uint64)
        cached = np.sort(source.l2_of_supervoxels(sv)) if len(sv) else sv
        _NUCLEUS_L2[source.cache_key] = cached
    return cached
