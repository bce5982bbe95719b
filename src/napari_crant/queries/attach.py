"""``attach_synapses``: put a neuron's synapses on its skeleton as navis connectors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_crant.arguments import InvalidArgumentError, check_distance, check_flags, check_threshold
from napari_crant.queries.common import filter_synapses, open_query, provenance
from napari_crant.queries.update import resolve_ids

CONNECTOR_COLUMNS = (
    "connector_id", "x", "y", "z", "type", "partner_id", "node_id", "synapse_id", "size",
    "distance",
)


def connectors_for(
    nodes: pd.DataFrame, syn: pd.DataFrame, root: int, pre: bool, post: bool
) -> pd.DataFrame:
    """Connector table of one neuron from its synapse rows (positions in nm, split columns).

    Each synapse where the neuron is presynaptic becomes a ``'pre'`` connector at
    ``pre_pt_position``; where postsynaptic, a ``'post'`` connector at ``post_pt_position``
    (an autapse kept by ``clean=False`` gives both). Each is mapped to the nearest node.
    """
    from scipy.spatial import cKDTree

    parts = []
    for kind, wanted, own, other in (
        ("pre", pre, "pre_pt_root_id", "post_pt_root_id"),
        ("post", post, "post_pt_root_id", "pre_pt_root_id"),
    ):
        if not wanted:
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
        }))
    cn = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["x", "y", "z", "type", "partner_id", "synapse_id", "size"]
    )
    tree = cKDTree(nodes[["x", "y", "z"]].to_numpy(np.float64))
    if len(cn):
        dist, idx = tree.query(cn[["x", "y", "z"]].to_numpy(np.float64))
    else:
        dist, idx = np.array([], float), np.array([], int)
    cn["node_id"] = nodes["node_id"].to_numpy()[idx].astype(np.int64)
    cn["distance"] = dist
    cn["_post"] = cn["type"] == "post"  # 'pre' connectors first, then by synapse id
    cn = cn.sort_values(["_post", "synapse_id"], kind="stable").drop(columns="_post").reset_index(drop=True)
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
    direction for all neurons), each is mapped to the nearest skeleton node with a
    KD-tree, and, when ``clean``, those farther than ``max_distance`` nm are dropped.
    Coordinates stay exact nm (the reference rounds through voxels). A neuron whose ID
    was edited is resolved first and still gets its connectors.

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
        also ``synapse_id``, ``size`` and ``distance`` (nm to the node). Existing
        connectors are replaced.
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
    for n, old in zip(nl, given, strict=True):
        root = root_of[int(old)]
        cn = connectors_for(n.nodes, syn, root, pre, post)
        if clean:
            cn = cn[cn["distance"].to_numpy() <= max_distance].reset_index(drop=True)
            cn["connector_id"] = np.arange(len(cn), dtype=np.int64)
        n.connectors = cn
        n.connectors_provenance = provenance(
            source, at, None, threshold=threshold, min_size=min_size, clean=clean,
            max_distance=max_distance, root_id=int(root), query_id=int(old),
        )
    return neurons
