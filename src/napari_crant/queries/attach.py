"""``attach_synapses``: put a neuron's synapses on its skeleton as navis connectors.

Each synapse goes to the skeleton node of its own L2 chunk (the L2 chunk of the neuron's
supervoxel at the synapse) when the skeleton has that chunk (``attached_by='l2'``), else to the
nearest node (``'nearest'``): on real neurons the nearest node is often in another chunk, on
another branch, than the synapse's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import InvalidArgumentError, check_distance, check_flags, check_threshold
from napari_crant.ids import lookup_uint64
from napari_crant.materialization import Materialization
from napari_crant.queries.common import filter_synapses, open_query, provenance
from napari_crant.queries.update import resolve_ids
from napari_crant.sources.base import DataSource

CONNECTOR_COLUMNS = (
    "connector_id", "x", "y", "z", "type", "partner_id", "node_id", "synapse_id", "size",
    "distance", "attached_by",
)
_SIDES = (("pre", "pre_pt_root_id", "post_pt_root_id"), ("post", "post_pt_root_id", "pre_pt_root_id"))


def synapse_l2(source: DataSource, syn: pd.DataFrame, roots: np.ndarray,
               at: Materialization) -> tuple[np.ndarray, np.ndarray]:
    """The L2 chunk (at ``at``) of each supervoxel on the ``roots``' side of a synapse, in one call.

    Returns
    -------
    (supervoxels, l2)
        Sorted distinct supervoxel IDs and aligned their L2 chunk IDs (0: unknown).
    """
    parts = [syn.loc[np.isin(syn[own].to_numpy(np.uint64), roots), f"{kind}_pt_supervoxel_id"]
             .to_numpy(np.uint64) for kind, own, _ in _SIDES]
    sv = np.unique(np.concatenate(parts)) if parts else np.array([], np.uint64)
    sv = sv[sv != 0]
    if not len(sv):
        return sv, sv.copy()
    return sv, np.asarray(source.l2_of_supervoxels(sv, at), dtype=np.uint64)


def connectors_for(
    nodes: pd.DataFrame, syn: pd.DataFrame, root: int, pre: bool, post: bool,
    sv_l2: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Connector table of one neuron from its synapse rows (positions in nm, split columns).

    Each synapse where the neuron is presynaptic becomes a ``'pre'`` connector at
    ``pre_pt_position``; where postsynaptic, a ``'post'`` connector at ``post_pt_position``
    (an autapse kept by ``clean=False`` gives both). Each goes to the node of the L2 chunk of
    its supervoxel on the neuron's side (``sv_l2``: supervoxels and their L2 chunks) when
    ``nodes`` has an ``l2_id`` column holding that chunk (``attached_by='l2'``), else to the
    nearest node (``'nearest'``). ``distance`` is from the synapse to its node (nm).
    """
    from scipy.spatial import cKDTree

    parts = []
    for kind, own, other in _SIDES:
        if not (pre if kind == "pre" else post):
            continue
        sel = syn[syn[own].to_numpy() == root]
        parts.append(pd.DataFrame({
            "x": sel[f"{kind}_pt_position_x"].to_numpy(np.float64),
            "y": sel[f"{kind}_pt_position_y"].to_numpy(np.float64),
            "z": sel[f"{kind}_pt_position_z"].to_numpy(np.float64),
            "type": kind,
            "partner_id": sel[other].to_numpy(np.uint64),
            "synapse_id": sel["id"].to_numpy(np.uint64),
            "size": sel["size"].to_numpy(np.int64),
            "_sv": sel[f"{kind}_pt_supervoxel_id"].to_numpy(np.uint64),
        }))
    cn = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["x", "y", "z", "type", "partner_id", "synapse_id", "size", "_sv"]
    )
    xyz = cn[["x", "y", "z"]].to_numpy(np.float64)
    node_xyz = nodes[["x", "y", "z"]].to_numpy(np.float64)
    if len(cn):
        _, idx = cKDTree(node_xyz).query(xyz)
    else:
        idx = np.array([], int)
    by_l2 = np.zeros(len(cn), dtype=bool)
    if sv_l2 is not None and "l2_id" in nodes and len(cn):
        l2 = lookup_uint64(sv_l2[0], sv_l2[1], cn["_sv"].to_numpy(np.uint64))
        node_l2 = nodes["l2_id"].to_numpy(np.uint64)
        l2_node = lookup_uint64(node_l2, np.arange(len(nodes), dtype=np.uint64), l2,
                                default=len(nodes))
        by_l2 = (l2 != 0) & (l2_node < len(nodes))
        idx = np.where(by_l2, l2_node.astype(np.int64), idx)
    idx = np.asarray(idx, dtype=np.int64)
    cn["node_id"] = nodes["node_id"].to_numpy()[idx].astype(np.int64)
    cn["distance"] = np.linalg.norm(xyz - node_xyz[idx], axis=1) if len(cn) else np.array([], float)
    cn["attached_by"] = np.where(by_l2, "l2", "nearest")
    cn["_post"] = cn["type"] == "post"  # 'pre' connectors first, then by synapse id
    cn = cn.sort_values(["_post", "synapse_id"], kind="stable").drop(columns=["_post", "_sv"])
    cn = cn.reset_index(drop=True)
    cn.insert(0, "connector_id", np.arange(len(cn), dtype=np.int64))
    cn["partner_id"] = cn["partner_id"].astype(np.uint64)
    cn["synapse_id"] = cn["synapse_id"].astype(np.uint64)
    return cn[list(CONNECTOR_COLUMNS)]


def attach_synapses(
    neurons: Any,
    pre: bool = True,
    post: bool = True,
    threshold: int = 1,
    min_size: float | None = None,
    materialization: Any = "latest",
    clean: bool = True,
    max_distance: float = 10_000,
    update_ids: bool = True,
    dataset: Any = None,
) -> Any:
    """Attach synapses to skeletons as a navis ``connectors`` table (in place).

    The neurons' pre- and postsynapses are fetched at ``materialization`` (one query per
    direction for all neurons). Each synapse is attached to the skeleton node of its own L2
    chunk: the chunk that holds the neuron's supervoxel at the synapse at ``materialization``
    (looked up for all synapses at once), when the skeleton has a node for it
    (``attached_by='l2'``, nodes need an ``l2_id`` column as from
    :func:`~napari_crant.get_l2_skeleton`). Otherwise (another skeleton, a chunk missing from
    it, an unsegmented supervoxel) it goes to the nearest node by KD-tree, as the reference
    does for all (``attached_by='nearest'``); on real neurons the nearest node lies in another
    chunk, often on another branch, for a sixth of the presynapses and a third of the
    postsynapses. Snapshot and CAVE datasets attach alike. When ``clean``, connectors farther
    than ``max_distance`` nm from their node are dropped. Coordinates stay exact nm (the
    reference rounds through voxels). A neuron whose ID was edited is resolved first and
    still gets its connectors.

    Parameters
    ----------
    neurons
        ``navis.TreeNeuron`` or ``navis.NeuronList`` in nm; ``.id`` is the root ID.
    pre, post
        Which synapses to attach; not both ``False``.
    threshold, min_size, materialization, clean, update_ids, dataset
        As for :func:`~napari_crant.get_synapses`.
    max_distance
        Distance (nm) beyond which a synapse is dropped when ``clean``.

    Returns
    -------
    navis.TreeNeuron or navis.NeuronList
        The same object, each neuron with ``connectors``: ``connector_id`` (from 0),
        ``x, y, z`` (nm), ``type`` (``'pre'``/``'post'``), ``partner_id``, ``node_id``, and
        also ``synapse_id``, ``size``, ``distance`` (nm to the node) and ``attached_by``
        (``'l2'`` or ``'nearest'``). Existing connectors are replaced.
    """
    import navis

    if isinstance(neurons, navis.TreeNeuron):
        nl = [neurons]
    elif isinstance(neurons, navis.NeuronList):
        nl = list(neurons)
        bad = [type(n).__name__ for n in nl if not isinstance(n, navis.TreeNeuron)]
        if bad:
            raise InvalidArgumentError(f"attach_synapses needs TreeNeurons; the list holds a {bad[0]}")
    else:
        raise InvalidArgumentError(
            f"attach_synapses needs a navis.TreeNeuron or NeuronList, not {type(neurons).__name__}"
        )
    attach_to_skeletons(nl, pre, post, threshold, min_size, materialization, clean, max_distance,
                        update_ids, dataset)
    return neurons


def attach_to_skeletons(nl: list[Any], pre: bool = True, post: bool = True, threshold: int = 1,
                        min_size: float | None = None, materialization: Any = "latest",
                        clean: bool = True, max_distance: float = 10_000, update_ids: bool = True,
                        dataset: Any = None) -> None:
    """:func:`attach_synapses` on skeletons that need not be navis neurons: anything with an ``id``
    (the root ID) and ``nodes`` (as from :func:`~napari_crant.queries.skeleton.skeleton_nodes`)
    gets ``connectors`` and ``connectors_provenance`` (the viewer's load: navis takes ~1.5 s to
    import). The arguments are checked here."""
    check_flags(pre=pre, post=post, clean=clean, update_ids=update_ids)
    if not pre and not post:
        raise InvalidArgumentError("attach_synapses: pre and post cannot both be False")
    check_threshold(threshold, min_size)
    max_distance = check_distance(max_distance, "max_distance")
    source, at = open_query(dataset, materialization)
    from napari_crant.ids import parse_ids

    given = parse_ids([n.id for n in nl], "neurons[].id")
    mapping = resolve_ids(source, given, at, update=update_ids, name="neurons[].id")
    root_of = dict(zip(mapping["old_id"].tolist(), mapping["new_id"].tolist(), strict=True))
    roots = np.unique(mapping["new_id"].to_numpy(np.uint64))
    parts = []
    if pre:
        parts.append(source.synapses(roots, None, at))
    if post:
        parts.append(source.synapses(None, roots, at))
    syn = pd.concat(parts, ignore_index=True).drop_duplicates("id")
    syn = filter_synapses(syn, threshold, min_size, clean)
    sv_l2 = synapse_l2(source, syn, roots, at) if any("l2_id" in n.nodes for n in nl) else None
    for n, old in zip(nl, given, strict=True):
        root = root_of[int(old)]
        cn = connectors_for(n.nodes, syn, root, pre, post, sv_l2)
        if clean:
            cn = cn[cn["distance"].to_numpy() <= max_distance].reset_index(drop=True)
            cn["connector_id"] = np.arange(len(cn), dtype=np.int64)
        n.connectors = cn
        n.connectors_provenance = provenance(
            source, at, None, threshold=threshold, min_size=min_size, clean=clean,
            max_distance=max_distance, root_id=int(root), query_id=int(old),
        )
