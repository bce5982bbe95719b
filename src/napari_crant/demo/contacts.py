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
    index = node_index_dtype(len(nodes.comp))
    pre_idx, post_idx = _sides(nodes.comp, rng, index, chunk)
    if len(pre_idx) == 0 or len(post_idx) == 0:
        return Contacts(np.zeros(0, np.int64), np.zeros(0, np.int64))
    post_pos = np.empty((len(post_idx), 3), dtype=np.float64)  # no float32 copy of them all
    for s in range(0, len(post_idx), chunk):
        post_pos[s:s + chunk] = nodes.pos[post_idx[s:s + chunk]]
    tree = cKDTree(post_pos, leafsize=32, balanced_tree=False)
    del post_pos  # the tree holds it
    k = 8
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


def _sides(comp: np.ndarray, rng: np.random.Generator, index: np.dtype, chunk: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """The presynaptic and postsynaptic nodes (indices of type ``index``): every axon node
    and a tenth of dendrite nodes, every dendrite node and 30 % of axon nodes; one uniform
    number a node, drawn ``chunk`` nodes at a time (the same numbers as all at once)."""
    pre, post = [], []
    for lo in range(0, len(comp), chunk):
        c = comp[lo:lo + chunk]
        u = rng.random(len(c))
        axon, dendrite = c == AXON, c == DENDRITE
        pre.append((np.flatnonzero(axon | (dendrite & (u < 0.1))) + lo).astype(index))
        post.append((np.flatnonzero(dendrite | (axon & (u < 0.3))) + lo).astype(index))
        del u, axon, dendrite
    return (np.concatenate(pre) if pre else np.zeros(0, index),
            np.concatenate(post) if post else np.zeros(0, index))
