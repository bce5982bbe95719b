"""Stage 6 of the demo, a batch of cells at a time: nodes grouped into L2 chunks.

:func:`~napari_crant.demo.chunks.build_chunks` groups the nodes of a batch of whole cells
(:func:`cell_batches`) with :func:`group_batch`: an L2 chunk never spans cells and chunks are
numbered cell by cell, so the batches' chunks follow each other in the order grouping all
nodes at once gives. What depends on the chunks of other cells (the rank of a chunk among
the earlier chunks of its grid cell, the supervoxels before it there) is carried across
slices by :class:`GridCounts`, one counter per cell of the chunk grid.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from napari_crant.demo.arrays import runs
from napari_crant.demo.morphology import SOMA, Nodes, node_index_dtype


def cell_batches(start: np.ndarray, batch_nodes: int) -> Iterator[tuple[int, int]]:
    """Node ranges ``(lo, hi)`` of whole cells (entities; ``start`` their first nodes and the
    end), about ``batch_nodes`` nodes each and at least one cell; none empty."""
    n_cells = len(start) - 1
    first = 0
    while first < n_cells:
        last = int(np.searchsorted(start, start[first] + batch_nodes, "right")) - 1
        last = min(max(last, first + 1), n_cells)
        if start[last] > start[first]:  # cells without nodes alone make no batch
            yield int(start[first]), int(start[last])
        first = last


def group_batch(nodes: Nodes, piece: np.ndarray, lo: int, hi: int, chunk_nm: np.ndarray,
                slice_nodes: int) -> dict[str, np.ndarray]:
    """The L2 chunks of the nodes ``lo:hi`` (whole cells), numbered from 0 in key order.

    Returns ``l2_of_node`` (local chunk of every node), per chunk its grid key ``ckey``
    (int32, ``x << 20 | y << 10 | z``), ``l2_group`` (local group index) and the
    representative node ``rep`` (global index), largest radius ``max_r``, volume ``size``
    (nm^3) and ``has_soma``; per group its ``group_key`` (``entity * 4 + piece``).
    """
    key = nodes.entity[lo:hi].astype(np.int64) * 4 + piece[lo:hi]
    key <<= 30
    for ax in range(3):
        c = np.floor(nodes.pos[lo:hi, ax] * np.float32(1000.0 / chunk_nm[ax])).astype(np.int64)
        np.clip(c, 0, 1023, out=c)
        c <<= 20 - 10 * ax
        key |= c
        del c
    order = np.argsort(key, kind="stable")
    key.sort()  # in place: the values key[order] holds
    first = runs(key)
    starts = np.flatnonzero(first)
    l2_key = key[starts]
    del key
    l2_of_node = np.empty(hi - lo, dtype=np.int64)
    l2_of_node[order] = np.cumsum(first) - 1
    del first
    parent = nodes.parent[lo:hi].astype(np.int64)
    root = parent < 0
    parent -= lo
    parent[root] = -1
    if len(parent) and (parent.max() >= hi - lo or (parent[~root] < 0).any()):
        raise ValueError("a node's parent lies in another cell")
    view = Nodes(pos=nodes.pos[lo:hi], parent=parent, entity=nodes.entity[lo:hi],
                 comp=nodes.comp[lo:hi], radius=nodes.radius[lo:hi], start=np.zeros(0))
    rep, max_r, size, has_soma = chunk_nodes(view, order, starts, slice_nodes)
    del view, parent, root, order, starts
    rep = rep.astype(node_index_dtype(len(nodes.entity)))
    rep += lo
    gkey = l2_key >> 30
    gfirst = runs(gkey)
    l2_group = np.cumsum(gfirst) - 1
    return {"l2_of_node": l2_of_node, "ckey": (l2_key & ((1 << 30) - 1)).astype(np.int32),
            "group_key": gkey[gfirst], "l2_group": l2_group, "rep": rep, "max_r": max_r,
            "size": size, "has_soma": has_soma}


class GridCounts:
    """A running total per cell of the chunk grid, for chunks met in order (any number of
    calls): :meth:`add` gives each chunk the total of the chunks of its grid cell before it.

    Parameters
    ----------
    ckey
        Grid keys (``x << 20 | y << 10 | z``) of all chunks: the grid cells counted are the
        distinct ones (found a slice at a time; 12 bytes a cell in use, at most the volume's
        few hundred thousand cells however many chunks there are).
    """

    def __init__(self, ckey: np.ndarray, slice_rows: int = 1 << 22):
        cells = np.zeros(0, dtype=np.int64)
        for lo in range(0, len(ckey), slice_rows):
            cells = np.union1d(cells, ckey[lo:lo + slice_rows].astype(np.int64))
        self.cells = cells.astype(np.int32)
        self.total = np.zeros(len(cells), dtype=np.int64)

    def reset(self) -> None:
        """Start counting again from zero."""
        self.total[:] = 0

    def add(self, ckey: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """For the next chunks (keys ``ckey``, in order): the sum of ``weight`` over the
        earlier chunks of the same grid cell; then counts these chunks in."""
        cell = np.searchsorted(self.cells, ckey)
        order = np.argsort(cell, kind="stable")
        sorted_cell = cell[order]
        w = weight.astype(np.int64)[order]
        first = runs(sorted_cell)
        before = np.cumsum(w)
        before -= w  # the sum of the earlier ones in this call
        at = np.flatnonzero(first)
        within = before - np.repeat(before[at], np.diff(np.append(at, len(w))))
        out = np.empty(len(cell), dtype=np.int64)
        out[order] = self.total[sorted_cell] + within
        if len(at):
            self.total[sorted_cell[at]] += np.add.reduceat(w, at)
        return out


def chunk_nodes(nodes: Nodes, order: np.ndarray, starts: np.ndarray, slice_nodes: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per L2 chunk (its nodes ``order[starts[i]:starts[i + 1]]``): the middle node (in growth
    order), the largest radius (um, float32), the volume (nm^3) and whether it holds soma.

    The sums are made a slice of whole chunks (about ``slice_nodes`` nodes) at a time: each
    chunk's own reduction, so the same values as over all nodes at once.
    """
    n_nodes, n_l2 = len(order), len(starts)
    bounds = np.append(starts, n_nodes)
    rep = order[starts + np.diff(bounds) // 2].astype(node_index_dtype(n_nodes))
    soma = nodes.comp == SOMA
    vol = node_volumes(nodes, soma, slice_nodes)
    max_r = np.empty(n_l2, dtype=np.float32)
    size = np.empty(n_l2, dtype=np.float64)
    has_soma = np.empty(n_l2, dtype=bool)
    lo = 0
    while lo < n_l2:
        hi = int(np.searchsorted(bounds, bounds[lo] + slice_nodes, "right")) - 1
        hi = min(max(hi, lo + 1), n_l2)
        rows = order[bounds[lo]:bounds[hi]]
        local = starts[lo:hi] - bounds[lo]
        max_r[lo:hi] = np.maximum.reduceat(nodes.radius[rows], local)
        size[lo:hi] = np.add.reduceat(vol[rows].astype(np.float64), local)
        has_soma[lo:hi] = np.maximum.reduceat(soma[rows], local)
        del rows, local
        lo = hi
    return rep, max_r, size * 1e9, has_soma


def node_volumes(nodes: Nodes, soma: np.ndarray, slice_nodes: int) -> np.ndarray:
    """Volume of every node (um^3, float32): a sphere at the soma, else a cylinder to its
    parent (at least 0.3 um long); computed ``slice_nodes`` at a time (row-wise, so the same
    values as all at once)."""
    vol = np.empty(len(nodes.radius), dtype=np.float32)
    for lo in range(0, len(vol), slice_nodes):
        hi = min(lo + slice_nodes, len(vol))
        parent = nodes.parent[lo:hi]
        seg = np.linalg.norm(nodes.pos[lo:hi] - nodes.pos[np.maximum(parent, 0)], axis=1)
        seg[parent < 0] = 0.0
        r = nodes.radius[lo:hi]
        vol[lo:hi] = np.where(soma[lo:hi], np.float32(4.0 / 3.0 * np.pi) * r**3,
                              np.float32(np.pi) * r**2 * np.maximum(seg, np.float32(0.3)))
    return vol
