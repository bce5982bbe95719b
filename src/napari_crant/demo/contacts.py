"""Stage 4 of the demo: where cells touch, the places that can carry synapses.

Wherever an axon node lies near another cell's dendrite node (``scipy`` k-d tree) the pair
is a *contact*; a share of axon nodes are also postsynaptic and of dendrite nodes
presynaptic, as in insect neuropil.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from napari_crant.demo.morphology import AXON, DENDRITE, Nodes, node_index_dtype


@dataclass
class Contacts:
    """Contacts between cells: aligned node indices (into :class:`Nodes`) of both sides."""

    pre: np.ndarray  # (C,) presynaptic node (int32, or int64 past 2**31 nodes)
    post: np.ndarray  # (C,) postsynaptic node


def find_contacts(nodes: Nodes, radius: float, rng: np.random.Generator,
                  chunk: int = 1 << 18) -> Contacts:
    """(presynaptic node, postsynaptic node) pairs of different cells closer than ``radius``.

    Axon nodes are presynaptic and dendrite nodes postsynaptic, and a share of each is
    also the other (axo-axonic and dendro-dendritic synapses, as in insect neuropil). Every
    presynaptic node contacts a few cells at most, once each, through their nearest node.

    Parameters
    ----------
    nodes
        From :func:`~napari_crant.demo.morphology.grow_morphology`.
    radius
        Largest distance of a contact, micrometres.
    rng
        Random generator of this stage.
    chunk
        Presynaptic nodes queried at once (bounds memory).

    Returns
    -------
    Contacts
    """
    u = rng.random(len(nodes.comp))
    pre_idx = np.flatnonzero((nodes.comp == AXON) | ((nodes.comp == DENDRITE) & (u < 0.1)))
    post_idx = np.flatnonzero((nodes.comp == DENDRITE) | ((nodes.comp == AXON) & (u < 0.3)))
    del u
    if len(pre_idx) == 0 or len(post_idx) == 0:
        return Contacts(np.zeros(0, np.int64), np.zeros(0, np.int64))
    tree = cKDTree(nodes.pos[post_idx].astype(np.float64), leafsize=32, balanced_tree=False)
    k = 8
    index = node_index_dtype(len(nodes.comp))
    out_a, out_d = [], []
    for s in range(0, len(pre_idx), chunk):
        a = pre_idx[s:s + chunk]
        dist, j = tree.query(nodes.pos[a].astype(np.float64), k=k, distance_upper_bound=radius,
                             workers=-1)
        ok = np.isfinite(dist)
        d_node = post_idx[np.where(ok, j, 0)]
        d_ent = np.where(ok, nodes.entity[d_node], -1)
        ok &= d_ent != nodes.entity[a][:, None]
        for c in range(1, k):  # keep only the nearest node of every partner cell
            for b in range(c):
                ok[:, c] &= d_ent[:, c] != d_ent[:, b]
        rows, cols = np.nonzero(ok)
        out_a.append(a[rows].astype(index))  # 4-byte parts: the concatenation's peak halves
        out_d.append(d_node[rows, cols].astype(index))
    del tree
    pre = np.concatenate(out_a)
    out_a.clear()
    return Contacts(pre, np.concatenate(out_d))
