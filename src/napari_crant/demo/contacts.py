"""Stage 4 of the demo: where cells touch, the places that can carry synapses.

Wherever an axon node lies near another cell's dendrite node (``scipy`` k-d tree) the pair
is a *contact*; a share of axon nodes are also postsynaptic and of dendrite nodes
presynaptic, as in insect neuropil.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from napari_crant.demo.arrays import rank_in_run, runs
from napari_crant.demo.morphology import AXON, DENDRITE, Nodes, node_index_dtype
from napari_crant.demo.spill import OnDisk
from napari_crant.snapshot.key_files import KeyFiles, release_pages

#: Nearest postsynaptic nodes looked at for every presynaptic node.
NEAREST = 8
#: About how many postsynaptic nodes one tile of stage 4's k-d tree holds.
TILE_NODES = 1 << 21
#: Presynaptic nodes looked up at once (bounds the query's buffers).
_QUERY_ROWS = 1 << 16
#: Node index of "no node" (past the last neighbour found).
_NO_NODE = np.iinfo(np.int64).max
#: Bins of the nodes' extent along x that the tiles' slabs are cut at.
_X_BINS = 4096


@dataclass
class Contacts:
    """Contacts between cells: aligned node indices (into :class:`Nodes`) of both sides."""

    pre: np.ndarray  # (C,) presynaptic node (int32, or int64 past 2**31 nodes)
    post: np.ndarray  # (C,) postsynaptic node


def find_contacts(nodes: Nodes, radius: float, rng: np.random.Generator,
                  chunk: int = 1 << 18, tile_nodes: int = TILE_NODES,
                  scratch: Path | None = None, out: Path | None = None) -> Contacts:
    """(presynaptic node, postsynaptic node) pairs of different cells closer than ``radius``.

    Axon nodes are presynaptic and dendrite nodes postsynaptic, and a share of each is
    also the other (axo-axonic and dendro-dendritic synapses, as in insect neuropil). Every
    presynaptic node contacts a few cells at most, once each, through their nearest node
    (of its :data:`NEAREST` nearest postsynaptic nodes closer than ``radius``; at equal
    distances the lower node index first).

    The k-d tree is tiled: space is cut into slabs along x holding about ``tile_nodes``
    postsynaptic nodes each, and each slab's presynaptic nodes are looked up in a tree of
    the postsynaptic nodes in the slab and a halo of ``radius`` around it (every node
    closer than ``radius``), so the contacts, and their order, do not depend on the tiles.

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
    tile_nodes
        About how many postsynaptic nodes one tile's tree holds (bounds memory; a slab is
        never thinner than 1/:data:`_X_BINS` of the nodes' extent along x).
    scratch
        Where the tiles' contacts wait (a temporary directory is made in it) until they
        are put in order; default: the system's temporary directory.
    out
        If given (a directory), the per-node lists (the pre- and postsynaptic nodes, the
        contacts of each presynaptic node and where they start) and the contacts are made
        as files there and held as memory maps (file pages, not heap): the same values.

    Returns
    -------
    Contacts
    """
    index = node_index_dtype(len(nodes.comp))
    files = KeyFiles(out)
    pre_idx, post_idx = _sides(nodes.comp, rng, index, chunk, files)
    if len(pre_idx) == 0 or len(post_idx) == 0:
        return Contacts(np.zeros(0, np.int64), np.zeros(0, np.int64))
    halo = radius * (1 + 1e-6) + 1e-6  # beyond any rounding of a distance below radius
    per_pre = files.array("per_pre", len(pre_idx), np.uint8)  # contacts of every pre node
    with tempfile.TemporaryDirectory(prefix="contacts-", dir=scratch) as tiles:
        slabs = []  # each slab's contacts on disk: (presynaptic position, postsynaptic node)
        blocks: list[list[int]] = []  # and the contacts of each query chunk (whole nodes)
        for i, (x0, x1) in enumerate(_slabs(nodes.pos, post_idx, tile_nodes, chunk)):
            at_t = _in_x(nodes.pos, pre_idx, x0, x1, chunk)  # positions in pre_idx
            post_t = post_idx[_in_x(nodes.pos, post_idx, x0 - halo, x1 + halo, chunk,
                                    closed=True)]
            if len(at_t) == 0 or len(post_t) == 0:
                continue
            slabs.append(Path(tiles) / f"{i}")
            blocks.append([])
            with open(slabs[-1].with_suffix(".at"), "wb") as f_at, \
                    open(slabs[-1].with_suffix(".post"), "wb") as f_post:
                for at, post in _slab_contacts(nodes, radius, pre_idx, at_t, post_t, chunk):
                    np.add.at(per_pre, at, 1)
                    blocks[-1].append(len(at))
                    at.astype(index).tofile(f_at)
                    post.astype(index).tofile(f_post)
            del at_t, post_t
            release_pages(nodes.pos, nodes.entity, pre_idx, post_idx, per_pre)  # mapped ones
        # every slab's contacts put in place: by presynaptic node, each in its slab's order
        first = files.array("first", len(pre_idx),
                            np.int64 if len(pre_idx) * NEAREST >= 2**31 else np.int32)
        np.cumsum(per_pre, dtype=first.dtype, out=first)
        n_contacts = int(first[-1])
        first -= per_pre
        del per_pre
        pre, post = files.array("pre", n_contacts, index), files.array("post", n_contacts, index)
        for slab, sizes in zip(slabs, blocks, strict=True):
            at_file = OnDisk(slab.with_suffix(".at"), dtype=index)
            post_file = OnDisk(slab.with_suffix(".post"), dtype=index)
            lo = 0
            for size in sizes:  # a query chunk's contacts: whole presynaptic nodes
                at = at_file[lo:lo + size]
                to = first[at] + rank_in_run(runs(at))
                pre[to] = pre_idx[at]
                post[to] = post_file[lo:lo + size]
                lo += size
                del at, to
    del first
    return Contacts(files.filled("pre", pre), files.filled("post", post))


def _slab_contacts(nodes: Nodes, radius: float, pre_idx: np.ndarray, at_t: np.ndarray,
                   post_t: np.ndarray, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The contacts of one slab's presynaptic nodes (``pre_idx[at_t]``) with the
    postsynaptic nodes ``post_t`` (the slab's and its halo's): their positions in
    ``pre_idx`` and postsynaptic nodes, by presynaptic node, nearest first, a query chunk
    at a time."""
    post_pos = np.empty((len(post_t), 3), dtype=np.float64)  # no float32 copy of them all
    for s in range(0, len(post_t), chunk):
        post_pos[s:s + chunk] = nodes.pos[post_t[s:s + chunk]]
    tree = cKDTree(post_pos, leafsize=32, balanced_tree=False)
    del post_pos  # the tree holds it
    step = min(chunk, _QUERY_ROWS)
    for s in range(0, len(at_t), step):
        a = pre_idx[at_t[s:s + step]]
        dist, d_node = _nearest(tree, post_t, nodes.pos[a].astype(np.float64), radius)
        ok = np.isfinite(dist)
        d_ent = np.where(ok, nodes.entity[np.where(ok, d_node, 0)], -1)
        del dist
        ok &= d_ent != nodes.entity[a][:, None]
        for c in range(1, NEAREST):  # keep only the nearest node of every partner cell
            for b in range(c):
                ok[:, c] &= d_ent[:, c] != d_ent[:, b]
        rows, cols = np.nonzero(ok)
        yield at_t[s:s + step][rows], d_node[rows, cols]


def _slabs(pos: np.ndarray, post_idx: np.ndarray, tile_nodes: int, chunk: int
           ) -> list[tuple[float, float]]:
    """Slabs ``[x0, x1)`` along x covering every node, each holding about ``tile_nodes``
    postsynaptic nodes (cut at the edges of :data:`_X_BINS` equal bins)."""
    lo, hi = np.inf, -np.inf
    for s in range(0, len(pos), chunk):
        x = pos[s:s + chunk, 0]
        lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
    if len(post_idx) <= tile_nodes or not hi > lo:
        return [(-np.inf, np.inf)]
    edges = np.linspace(lo, hi, _X_BINS + 1)
    counts = np.zeros(_X_BINS, dtype=np.int64)
    for s in range(0, len(post_idx), chunk):
        x = pos[post_idx[s:s + chunk], 0].astype(np.float64)
        counts += np.bincount(np.clip(np.searchsorted(edges, x, side="right") - 1, 0,
                                      _X_BINS - 1), minlength=_X_BINS)
    cuts, held = [], 0
    for b in range(_X_BINS):
        if held and held + counts[b] > tile_nodes:
            cuts.append(float(edges[b]))
            held = 0
        held += int(counts[b])
    bounds = [-np.inf, *cuts, np.inf]
    return list(itertools.pairwise(bounds))


def _in_x(pos: np.ndarray, idx: np.ndarray, x0: float, x1: float, chunk: int,
          closed: bool = False) -> np.ndarray:
    """Positions in ``idx`` (ascending) of its nodes with ``x0 <= x < x1`` (``<= x1`` if
    ``closed``)."""
    out = []
    for s in range(0, len(idx), chunk):
        x = pos[idx[s:s + chunk], 0].astype(np.float64)
        keep = (x >= x0) & ((x <= x1) if closed else (x < x1))
        out.append((np.flatnonzero(keep) + s).astype(idx.dtype))
    return np.concatenate(out) if out else idx[:0]


def _nearest(tree: cKDTree, post_t: np.ndarray, points: np.ndarray, radius: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """The :data:`NEAREST` nearest postsynaptic nodes closer than ``radius`` of every point:
    distances (``inf`` past the last) and node indices (int64, of ``post_t``'s nodes), by
    distance and, at equal distances, by node index (whichever tree holds them)."""
    n_tree = tree.n
    k = min(NEAREST + 1, n_tree)
    dist, j = tree.query(points, k=k, distance_upper_bound=radius, workers=-1)
    dist, j = dist.reshape(len(points), k), j.reshape(len(points), k)
    node = np.full(j.shape, _NO_NODE, dtype=np.int64)
    found = j < n_tree
    node[found] = post_t[j[found]]
    del j, found
    if k > NEAREST:  # the nearest-but-one tied with the last kept: look further for them
        last = dist[:, NEAREST - 1]
        tied = np.flatnonzero(np.isfinite(last) & (dist[:, NEAREST] == last))
        dist, node = dist[:, :NEAREST], node[:, :NEAREST]
        for row in tied:
            dist[row], node[row] = _nearest_tied(tree, post_t, points[row], radius)
    # the tree gives equal distances in its own order: by node index instead
    same = np.isfinite(dist[:, 1:]) & (dist[:, 1:] == dist[:, :-1])
    rows = np.flatnonzero(same.any(axis=1))
    if len(rows):
        sub_dist, sub_node = dist[rows], node[rows]
        order = np.lexsort((sub_node, sub_dist), axis=-1)
        dist[rows] = np.take_along_axis(sub_dist, order, axis=-1)
        node[rows] = np.take_along_axis(sub_node, order, axis=-1)
    if node.shape[1] < NEAREST:  # fewer postsynaptic nodes in the tile than NEAREST
        pad = NEAREST - node.shape[1]
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
        node = np.pad(node, ((0, 0), (0, pad)), constant_values=_NO_NODE)
    return dist, node


def _nearest_tied(tree: cKDTree, post_t: np.ndarray, point: np.ndarray, radius: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One point's :data:`NEAREST` nearest (as :func:`_nearest`) when more nodes than that
    tie for the last place: all the tied ones are fetched, then the lowest indices kept."""
    k = 2 * NEAREST
    while True:
        k = min(k, tree.n)
        dist, j = tree.query(point, k=k, distance_upper_bound=radius)
        if k == tree.n or dist[-1] != dist[NEAREST - 1]:
            break
        k *= 2
    node = np.full(len(j), _NO_NODE, dtype=np.int64)
    node[j < tree.n] = post_t[j[j < tree.n]]
    order = np.lexsort((node, dist))[:NEAREST]
    return dist[order], node[order]


def _sides(comp: np.ndarray, rng: np.random.Generator, index: np.dtype, chunk: int,
           files: KeyFiles | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The presynaptic and postsynaptic nodes (indices of type ``index``): every axon node
    and a tenth of dendrite nodes, every dendrite node and 30 % of axon nodes; one uniform
    number a node, drawn ``chunk`` nodes at a time (the same numbers as all at once).
    In memory, or appended to files of ``files`` and mapped."""
    files = KeyFiles(None) if files is None else files
    pre, post = files.parts("pre_idx", index), files.parts("post_idx", index)
    for lo in range(0, len(comp), chunk):
        c = comp[lo:lo + chunk]
        u = rng.random(len(c))
        axon, dendrite = c == AXON, c == DENDRITE
        pre.append((np.flatnonzero(axon | (dendrite & (u < 0.1))) + lo).astype(index))
        post.append((np.flatnonzero(dendrite | (axon & (u < 0.3))) + lo).astype(index))
        del u, axon, dendrite
    return pre.joined(), post.joined()
