"""Stage 6 of the demo: level-2 (L2) chunks, supervoxels and their IDs.

Arbor nodes are grouped into L2 chunks per cell, per piece (see
:mod:`napari_crant.demo.edits`) and per cell of the chunk grid; every L2 chunk gets a few
supervoxels (more in the soma). IDs are encoded like the PyChunkedGraph's
(:func:`pcg_ids`: layer, chunk coordinates, a counter within the chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_crant.demo.arrays import rank_in_run, runs, splitmix
from napari_crant.demo.morphology import SOMA, Nodes, node_index_dtype

#: nm per voxel of the demo dataset (x, y, z), as CRANTb.
VOXEL_RESOLUTION = (8, 8, 42)
#: Size of an L1/L2 chunk of the chunk grid, in voxels (~3 x 3 x 3.4 um).
CHUNK_VOXELS = (384, 384, 80)
CHUNK_NM = np.array([c * r for c, r in zip(CHUNK_VOXELS, VOXEL_RESOLUTION, strict=True)],
                    dtype=np.float64)
#: Rows (nodes, supervoxels) computed at once where a stage works in slices.
_SLICE_ROWS = 1 << 21
#: Bit position of the layer in an ID; layer of root IDs.
LAYER_SHIFT = 56
#: Bits of the counter within a chunk in an ID (below the chunk coordinates).
COUNTER_BITS = 26
ROOT_LAYER = 8


def pcg_ids(layer: int, chunk: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """PyChunkedGraph-style IDs: ``layer << 56 | x << 46 | y << 36 | z << 26 | counter``."""
    c = chunk.astype(np.uint64)
    return ((np.uint64(layer) << np.uint64(LAYER_SHIFT))
            | (c[:, 0] << np.uint64(46)) | (c[:, 1] << np.uint64(36))
            | (c[:, 2] << np.uint64(26)) | counter.astype(np.uint64))


@dataclass
class Chunks:
    """L2 chunks (index ``0..L-1``) and supervoxels of all nodes, and the ``l2`` table.

    A *group* is one ``(entity, piece)``: the nodes that always share a root. The
    supervoxels of L2 chunk ``i`` are ``sv_count[i]`` IDs two apart from ``sv_first[i]``
    (their counters within the chunk step by 2), listed chunk by chunk
    (:func:`supervoxels_table`); 9 bytes an L2 chunk instead of 16 bytes a supervoxel and 8
    an L2 chunk for their IDs and where they start.
    """

    l2_of_node: np.ndarray  # (N,) L2 index (int32 up to 2**31 chunks)
    l2_id: np.ndarray  # (L,) uint64
    l2_group: np.ndarray  # (L,) group index
    group_key: np.ndarray  # (G,) entity * 4 + piece, sorted
    table: pd.DataFrame  # the l2 table
    sv_first: np.ndarray  # (L,) uint64 ID of the first supervoxel of every L2
    sv_count: np.ndarray  # (L,) uint8 (uint16 if needed) supervoxels of every L2


def build_chunks(nodes: Nodes, piece: np.ndarray, rng: np.random.Generator) -> Chunks:
    """Group nodes into L2 chunks (cell x piece x chunk-grid cell); supervoxels; IDs.

    Parameters
    ----------
    nodes
        From :func:`~napari_crant.demo.morphology.grow_morphology`.
    piece
        Piece label of every node (:attr:`~napari_crant.demo.edits.EditPlan.piece`).
    rng
        Random generator of this stage.

    Returns
    -------
    Chunks
    """
    n_nodes = len(nodes.entity)
    key = nodes.entity.astype(np.int64) * 4 + piece
    key <<= 30
    for ax in range(3):
        c = np.floor(nodes.pos[:, ax] * np.float32(1000.0 / CHUNK_NM[ax])).astype(np.int64)
        np.clip(c, 0, 1023, out=c)
        c <<= 20 - 10 * ax
        key |= c
        del c
    order = np.argsort(key, kind="stable")
    skey = key
    skey.sort()  # in place: the values key[order] holds
    del key
    first = runs(skey)
    starts = np.flatnonzero(first)
    l2_key = skey[starts]
    del skey
    n_l2 = len(starts)
    l2_of_node = np.empty(n_nodes, dtype=node_index_dtype(n_l2))
    index = np.cumsum(first)
    del first
    index -= 1
    l2_of_node[order] = index
    del index
    # representative point (the middle node, in growth order), radius and volume: no random
    # numbers, so made before the IDs, and the nodes' order dropped before them
    rep, max_r, size_nm3, has_soma = _chunk_nodes(nodes, order, starts)
    del order, starts
    # per-chunk integers in the fewest bytes their values need (the same values: 4 bytes for
    # chunk indices and the 30-bit grid keys, 2 for the offsets, 1 for the jitter)
    l2_index = node_index_dtype(n_l2)
    l2_ckey = (l2_key & ((1 << 30) - 1)).astype(np.int32)
    l2_gkey = l2_key >> 30
    del l2_key
    gfirst = runs(l2_gkey)
    group_key = l2_gkey[gfirst]
    l2_group = np.cumsum(gfirst).astype(l2_index)
    l2_group -= 1
    del gfirst, l2_gkey

    # counters within each chunk, after a per-chunk offset (other objects in the chunk)
    by_chunk = np.argsort(l2_ckey, kind="stable").astype(l2_index)
    cfirst = runs(l2_ckey[by_chunk])
    rank = np.empty(n_l2, dtype=l2_index)
    rank[by_chunk] = rank_in_run(cfirst)
    salt = np.uint64(rng.integers(1 << 62))
    jitter = rng.integers(0, 3, n_l2).astype(np.int8)
    offset = np.empty(n_l2, dtype=np.int16)  # below 400
    l2_id = np.empty(n_l2, dtype=np.uint64)
    for lo in range(0, n_l2, _SLICE_ROWS):  # element-wise: slices change nothing
        hi = min(lo + _SLICE_ROWS, n_l2)
        ckey = l2_ckey[lo:hi]
        offset[lo:hi] = splitmix(ckey.astype(np.uint64) ^ salt) % np.uint64(400)
        counter = (1 + offset[lo:hi].astype(np.int64) + 3 * rank[lo:hi].astype(np.int64)
                   + jitter[lo:hi])
        if len(counter) and int(counter.max()) >= 1 << COUNTER_BITS:
            raise ValueError("L2 counters overflow their bits in the chunk IDs")
        chunk = np.stack([ckey >> 20, (ckey >> 10) & 1023, ckey & 1023], axis=1)
        prefix = pcg_ids(0, chunk, np.zeros(hi - lo, dtype=np.uint64))  # chunk bits only
        l2_id[lo:hi] = (prefix | (np.uint64(2) << np.uint64(LAYER_SHIFT))
                        | counter.astype(np.uint64))
        del ckey, counter, chunk, prefix
    del rank, jitter, l2_ckey

    rep_nm = rng.normal(0.0, 60.0, (n_l2, 3))
    for lo in range(0, n_l2, _SLICE_ROWS):  # pos * 1000 + noise, a slice at a time
        hi = min(lo + _SLICE_ROWS, n_l2)
        rep_nm[lo:hi] += nodes.pos[rep[lo:hi]].astype(np.float64) * 1000.0
    del rep
    # the float columns filled in place in one block the table keeps (no copy)
    floats = np.empty((5, n_l2), dtype=np.float64)
    for i in range(3):
        np.round(rep_nm[:, i], 1, out=floats[i])
    del rep_nm
    np.round(max_r.astype(np.float64) * 1000.0 * rng.uniform(0.85, 1.0, n_l2), 1,
             out=floats[3])
    np.round(size_nm3 * rng.uniform(0.9, 1.1, n_l2), out=floats[4])
    del max_r, size_nm3
    table = pd.DataFrame(floats.T, columns=["x", "y", "z", "max_dt_nm", "size_nm3"], copy=False)
    table.insert(0, "l2_id", l2_id)
    del floats

    # supervoxels: a few per L2 chunk, more in the soma, counted per chunk like the L2s
    n_sv = 1 + rng.poisson(1.3, n_l2) + 4 * has_soma.astype(np.int64)
    sorted_n = n_sv[by_chunk]
    before = np.cumsum(sorted_n) - sorted_n  # supervoxels before this L2, in chunk order
    chunk_base = np.empty(n_l2, dtype=np.int64)
    chunk_base[by_chunk] = before - before[np.maximum.accumulate(
        np.where(cfirst, np.arange(n_l2), 0))]
    del by_chunk, cfirst, sorted_n, before
    counter_base = 1 + 5 * offset.astype(np.int64) + 2 * chunk_base  # per L2 chunk
    del offset, chunk_base
    # the k-th supervoxel of a chunk has counter counter_base + 2 k: while the counters fit
    # their bits, its ID (prefix | layer | counter) is the first one's plus 2 k
    if len(n_sv) and int((counter_base + 2 * (n_sv - 1)).max()) >= 1 << COUNTER_BITS:
        raise ValueError("supervoxel counters overflow their bits in the chunk IDs")
    prefix_bits = np.uint64(((1 << 30) - 1) << COUNTER_BITS)  # the chunk coordinates
    sv_first = l2_id & prefix_bits
    sv_first |= np.uint64(1) << np.uint64(LAYER_SHIFT)
    sv_first |= counter_base.astype(np.uint64)
    sv_count = n_sv.astype(np.min_scalar_type(int(n_sv.max()) if len(n_sv) else 0))
    return Chunks(l2_of_node=l2_of_node, l2_id=l2_id, l2_group=l2_group,
                  group_key=group_key, table=table, sv_first=sv_first, sv_count=sv_count)


def supervoxels_table(ch: Chunks, slice_rows: int | None = None) -> pd.DataFrame:
    """The ``supervoxels`` table in supervoxel order (chunk by chunk): ``sv_id`` and its
    chunk's ``l2_id``; the IDs are made ``slice_rows`` (default :data:`_SLICE_ROWS`) at a
    time."""
    slice_rows = slice_rows or _SLICE_ROWS
    sv_start = np.zeros(len(ch.sv_count) + 1, dtype=np.int64)
    np.cumsum(ch.sv_count, out=sv_start[1:])
    sv_id = np.empty(int(sv_start[-1]), dtype=np.uint64)
    l2_id = np.empty(len(sv_id), dtype=np.uint64)
    for lo in range(0, len(sv_id), slice_rows):
        hi = min(lo + slice_rows, len(sv_id))
        l2 = np.searchsorted(sv_start, np.arange(lo, hi, dtype=np.int64), "right") - 1
        local = np.arange(lo, hi, dtype=np.int64) - sv_start[l2]
        sv_id[lo:hi] = ch.sv_first[l2] + 2 * local.astype(np.uint64)
        l2_id[lo:hi] = ch.l2_id[l2]
        del l2, local
    return pd.DataFrame({"sv_id": sv_id, "l2_id": l2_id}, copy=False)


def _chunk_nodes(nodes: Nodes, order: np.ndarray, starts: np.ndarray,
                 slice_nodes: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per L2 chunk (its nodes ``order[starts[i]:starts[i + 1]]``): the middle node (in growth
    order), the largest radius (um, float32), the volume (nm^3) and whether it holds soma.

    The sums are made a slice of whole chunks (about ``slice_nodes`` nodes) at a time: each
    chunk's own reduction, so the same values as over all nodes at once.
    """
    slice_nodes = slice_nodes or _SLICE_ROWS
    n_nodes, n_l2 = len(order), len(starts)
    bounds = np.append(starts, n_nodes)
    rep = order[starts + np.diff(bounds) // 2].astype(node_index_dtype(n_nodes))
    soma = nodes.comp == SOMA
    vol = _node_volumes(nodes, soma)
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


def _node_volumes(nodes: Nodes, soma: np.ndarray, slice_nodes: int = _SLICE_ROWS) -> np.ndarray:
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


def l2_edges_table(nodes: Nodes, ch: Chunks, extra: list[tuple[int, int]],
                   slice_nodes: int = _SLICE_ROWS) -> pd.DataFrame:
    """The ``l2_edges`` table: chunks joined by a skeleton edge, plus ``extra`` node pairs.

    ``extra`` are the false contacts of :class:`~napari_crant.demo.edits.Scenario` (where
    two cells were wrongly merged). The nodes are taken ``slice_nodes`` at a time, each
    slice's distinct edges kept, so memory grows with the edges, not the nodes.
    """
    by_id = np.argsort(ch.l2_id)
    rank = np.empty_like(by_id)
    rank[by_id] = np.arange(len(by_id))

    def edge_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distinct ``min << 32 | max`` of the ranks (by ID) of chunk pairs, sorted."""
        keep = a != b
        ra, rb = rank[a[keep]], rank[b[keep]]
        return np.unique((np.minimum(ra, rb) << 32) | np.maximum(ra, rb))

    parts = []
    for lo in range(0, len(nodes.parent), slice_nodes):
        parent = nodes.parent[lo:lo + slice_nodes]
        child = np.flatnonzero(parent >= 0)
        parts.append(edge_keys(ch.l2_of_node[lo + child], ch.l2_of_node[parent[child]]))
        del parent, child
    if extra:
        ex = np.array(extra, dtype=np.int64)
        parts.append(edge_keys(ch.l2_of_node[ex[:, 0]], ch.l2_of_node[ex[:, 1]]))
    key = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    del parts
    ids = ch.l2_id[by_id]
    return pd.DataFrame({"l2_a": ids[key >> 32], "l2_b": ids[key & 0xFFFFFFFF]})


def pick_supervoxels(ch: Chunks, l2: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random supervoxel ID of each L2 chunk (index) in ``l2``."""
    k = (rng.random(len(l2)) * ch.sv_count[l2]).astype(np.int64)
    return ch.sv_first[l2] + np.uint64(2) * k.astype(np.uint64)


def node_supervoxels(ch: Chunks, rows: slice = slice(None)) -> np.ndarray:
    """One supervoxel ID of every node's L2 chunk, chosen by a hash of the node index.

    Uses no random generator, so adding it changes nothing else the demo draws. ``rows``
    (a slice with step 1) picks some nodes.
    """
    first, last, _ = rows.indices(len(ch.l2_of_node))
    l2 = ch.l2_of_node[first:last]
    pick = splitmix(np.arange(first, first + len(l2), dtype=np.uint64)) % ch.sv_count[l2]
    return ch.sv_first[l2] + np.uint64(2) * pick
