"""Vectorised growth of neuron-like trees: noisy cables and random-walk branching arbors.

All functions work on many trees at once and return flat node arrays (positions in
micrometres, float32, and the index of every node's parent, ``-1`` for a root), numbered
from a caller-supplied offset so that several calls can be concatenated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Takes new nodes (positions, parents, the cable or arbor of each) as they are made.
Emit = Callable[[np.ndarray, np.ndarray, np.ndarray], None]

#: Nodes of whole cables made at once by :func:`cables`.
_CABLE_BATCH = 1 << 18


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def cables(
    start: np.ndarray,
    end: np.ndarray,
    start_node: np.ndarray,
    node_offset: int,
    rng: np.random.Generator,
    spacing: float = 1.5,
    jitter: float = 0.45,
    emit: Emit | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grow one wiggly cable (a Brownian bridge) from every ``start`` to its ``end``.

    Parameters
    ----------
    start, end
        ``(m, 3)`` end points in micrometres; the start is an existing node.
    start_node
        ``(m,)`` index of the existing node at ``start`` (the parent of the first new node).
    node_offset
        Index given to the first new node.
    rng
        Random generator.
    spacing
        Approximate distance between nodes, micrometres.
    jitter
        Standard deviation of the per-node random displacement, micrometres.
    emit
        If given, every batch's new nodes are handed to it (``pos``, ``parent``, ``cable``
        of the batch, in order) and not kept: ``pos``, ``parent`` and ``cable`` are returned
        empty.

    Returns
    -------
    pos : (n, 3) float32
        Positions of the new nodes (the last node of cable ``i`` lies at ``end[i]``).
    parent : (n,) int32 (int64 past 2**31 nodes)
        Parent of each new node.
    last : (m,) int64
        Index of the last node of every cable.
    cable : (n,) int32 (int64 past 2**31 cables)
        Cable (``0..m-1``) of each new node.

    The cables are made a batch of whole cables (about :data:`_CABLE_BATCH` nodes) at a
    time, so the float64 temporaries are a batch's, not every node's.
    """
    start = np.asarray(start, dtype=np.float64)
    end = np.asarray(end, dtype=np.float64)
    length = np.linalg.norm(end - start, axis=1)
    n = np.maximum(1, np.ceil(length / spacing)).astype(np.int64)
    total = int(n.sum())
    first = np.zeros(len(n), dtype=np.int64)
    np.cumsum(n[:-1], out=first[1:])
    index = _index_dtype(node_offset + total)
    cable = np.repeat(np.arange(len(n), dtype=_index_dtype(len(n))), n)
    pos = np.empty((total if emit is None else 0, 3), dtype=np.float32)
    # a batch of whole cables at a time: the steps drawn in order, the walk carried on from
    # the batch before (the same sums in the same order as one walk over all nodes)
    carry = np.zeros(3)
    c0 = 0
    while c0 < len(n):
        c1 = int(np.searchsorted(first, first[c0] + _CABLE_BATCH, "right"))
        c1 = min(max(c1, c0 + 1), len(n))
        r0 = int(first[c0])
        r1 = int(first[c1]) if c1 < len(n) else total
        local = cable[r0:r1].astype(np.int64) - c0
        f, m = first[c0:c1] - r0, n[c0:c1]
        walk = rng.normal(0.0, jitter, (r1 - r0, 3))
        walk[0] += carry
        np.cumsum(walk, axis=0, out=walk)
        before = np.empty((c1 - c0, 3))
        before[0] = carry
        before[1:] = walk[f[1:] - 1]
        carry = walk[-1].copy()
        walk -= before[local]
        walk_end = walk[f + m - 1]
        t = ((np.arange(r0, r1) - first[c0:c1][local] + 1) / m[local])[:, None]
        bridge = walk - t * walk_end[local]
        del walk, walk_end
        batch = (start[c0:c1][local] + (end[c0:c1] - start[c0:c1])[local] * t + bridge)
        del local, t, bridge, before
        if emit is None:
            pos[r0:r1] = batch
        else:  # the batch's nodes and their parents, handed over and dropped
            parent = np.arange(node_offset + r0 - 1, node_offset + r1 - 1, dtype=index)
            parent[first[c0:c1] - r0] = np.asarray(start_node)[c0:c1]
            emit(batch.astype(np.float32), parent, cable[r0:r1])
            del parent
        del batch
        c0 = c1
    last = node_offset + first + n - 1
    if emit is not None:
        return pos, np.zeros(0, dtype=index), last, cable[:0]
    parent = np.arange(node_offset - 1, node_offset + total - 1, dtype=index)
    parent[first] = start_node
    return pos, parent, last, cable


def grow_arbors(
    start_node: np.ndarray,
    start_pos: np.ndarray,
    center: np.ndarray,
    radii: np.ndarray,
    target: np.ndarray,
    node_offset: int,
    rng: np.random.Generator,
    max_steps: int = 400,
    emit: Emit | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grow random-walk branching arbors, all at once.

    Each arbor starts as two tips at an existing node and grows by ~1 um steps with
    persistent, noisy directions, pulled back when the tip leaves the ellipsoid
    ``center +- radii``. Tips branch while the arbor is below its node budget and stop
    once the budget is spent.

    Parameters
    ----------
    start_node
        ``(m,)`` existing node each arbor hangs from.
    start_pos
        ``(m, 3)`` position of that node, micrometres.
    center, radii
        ``(m, 3)`` the ellipsoid each arbor fills, micrometres.
    target
        ``(m,)`` node budget per arbor.
    node_offset
        Index given to the first new node.
    rng
        Random generator.
    max_steps
        Safety bound on the number of growth steps.
    emit
        If given, every step's new nodes are handed to it (``pos``, ``parent``, ``arbor``
        of the step, in order) and not kept: empty arrays are returned.

    Returns
    -------
    pos : (n, 3) float32
        New node positions.
    parent : (n,) int32 (int64 past 2**31 nodes)
        Parent of each new node.
    arbor : (n,) int32 (int64 past 2**31 arbors)
        Arbor of each new node.
    """
    m = len(target)
    target = np.asarray(target, dtype=np.int64)
    max_tips = np.maximum(2, target // 9)
    tip_arbor = np.repeat(np.arange(m), 2)
    tip_node = np.asarray(start_node, dtype=np.int64)[tip_arbor]
    tip_pos = np.asarray(start_pos, dtype=np.float64)[tip_arbor]
    to_center = _unit(center[tip_arbor] - tip_pos)
    tip_dir = _unit(to_center + rng.normal(0.0, 0.6, tip_pos.shape))
    count = np.zeros(m, dtype=np.int64)
    out_pos, out_parent, out_arbor = [], [], []
    next_node = node_offset
    for _ in range(max_steps):
        nt = len(tip_arbor)
        if nt == 0:
            break
        c = center[tip_arbor]
        r = radii[tip_arbor]
        q = (tip_pos - c) / r
        rq = np.linalg.norm(q, axis=1)
        inward = _unit(-q / r)
        pull = np.clip(rq - 0.6, 0.0, None)[:, None] * 3.0
        tip_dir = _unit(0.8 * tip_dir + 0.45 * rng.normal(0.0, 1.0, (nt, 3)) + pull * inward)
        step = rng.uniform(0.7, 1.5, nt)[:, None]
        tip_pos = tip_pos + tip_dir * step
        new = next_node + np.arange(nt, dtype=np.int64)
        made = (tip_pos.astype(np.float32),
                # kept in 4 bytes while the values fit (the same values; int64 parts upcast)
                tip_node.astype(_index_dtype(next_node + nt)), tip_arbor.astype(_index_dtype(m)))
        if emit is None:
            for out, values in zip((out_pos, out_parent, out_arbor), made, strict=True):
                out.append(values)
        else:
            emit(*made)
        del made
        next_node += nt
        tip_node = new
        count += np.bincount(tip_arbor, minlength=m)

        # stop tips of full arbors, and a few others at random (never an arbor's last tip)
        full = count[tip_arbor] >= target[tip_arbor]
        stop = full | ((rng.random(nt) < 0.03) & (count[tip_arbor] > 0.4 * target[tip_arbor]))
        alive = np.bincount(tip_arbor[~stop], minlength=m)
        orphaned = np.flatnonzero(stop & ~full & (alive[tip_arbor] == 0))
        if len(orphaned):  # keep the first tip of every arbor that would have none left
            arb = tip_arbor[orphaned]
            first = np.ones(len(arb), dtype=bool)
            order = np.argsort(arb, kind="stable")
            first[1:] = arb[order][1:] != arb[order][:-1]
            stop[orphaned[order[first]]] = False
        keep = ~stop
        tip_arbor, tip_node, tip_pos, tip_dir = (
            tip_arbor[keep], tip_node[keep], tip_pos[keep], tip_dir[keep])

        # branch
        ntips = np.bincount(tip_arbor, minlength=m)
        a = tip_arbor
        branch = ((count[a] < 0.9 * target[a]) & (ntips[a] < max_tips[a])
                  & (rng.random(len(a)) < 0.22))
        if branch.any():
            kick = rng.normal(0.0, 1.0, (int(branch.sum()), 3))
            new_dir = _unit(tip_dir[branch] + kick)
            tip_dir[branch] = _unit(tip_dir[branch] - 0.5 * kick)
            tip_arbor = np.concatenate([tip_arbor, a[branch]])
            tip_node = np.concatenate([tip_node, tip_node[branch]])
            tip_pos = np.concatenate([tip_pos, tip_pos[branch]])
            tip_dir = np.concatenate([tip_dir, new_dir])
    if not out_pos:
        return (np.zeros((0, 3), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64))
    # joined one at a time, each one's parts dropped as it is made
    joined = []
    for parts in (out_pos, out_parent, out_arbor):
        joined.append(np.concatenate(parts))
        parts.clear()
    return tuple(joined)


def _index_dtype(n: int) -> np.dtype:
    """int32 for indices below ``n`` if they fit, else int64."""
    return np.dtype(np.int32) if n < 2**31 else np.dtype(np.int64)


def subtree_mask(parent: np.ndarray, root: int) -> np.ndarray:
    """Nodes in the subtree of ``root`` (inclusive), for one tree stored parents-first.

    Parameters
    ----------
    parent
        Parent index of every node, local to the tree (``-1`` for the root); every
        parent index is smaller than its child's.
    root
        Local index of the subtree's root.

    Returns
    -------
    np.ndarray
        Boolean mask over the tree's nodes.
    """
    n = len(parent)
    mask = np.zeros(n, dtype=bool)
    mask[root] = True
    p = np.where(parent >= 0, parent, 0)
    below = np.arange(n) > root
    while True:
        grown = mask | (below & mask[p] & (parent >= 0))
        if (grown == mask).all():
            return mask
        mask = grown
