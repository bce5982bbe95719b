"""Stage 6 of the demo: level-2 (L2) chunks, supervoxels and their IDs.

Arbor nodes are grouped into L2 chunks per cell, per piece (see
:mod:`napari_crant.demo.edits`) and per cell of the chunk grid; every L2 chunk gets a few
supervoxels (more in the soma). IDs are encoded like the PyChunkedGraph's
(:func:`pcg_ids`: layer, chunk coordinates, a counter within the chunk).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_crant.demo.arrays import runs, splitmix
from napari_crant.demo.chunk_groups import GridCounts, cell_batches, group_batch
from napari_crant.demo.morphology import Nodes, node_index_dtype
from napari_crant.demo.spill import FrameOnDisk, OnDisk
from napari_crant.snapshot.key_files import KeyFiles, release_pages

#: nm per voxel of the demo dataset (x, y, z), as CRANTb.
VOXEL_RESOLUTION = (8, 8, 42)
#: Size of an L1/L2 chunk of the chunk grid, in voxels (~3 x 3 x 3.4 um).
CHUNK_VOXELS = (384, 384, 80)
CHUNK_NM = np.array([c * r for c, r in zip(CHUNK_VOXELS, VOXEL_RESOLUTION, strict=True)],
                    dtype=np.float64)
#: Rows (nodes, supervoxels) computed at once where a stage works in slices.
_SLICE_ROWS = 1 << 21
#: Nodes (whole cells) grouped into L2 chunks at once by :func:`build_chunks`.
_BATCH_NODES = 1 << 20
#: Chunks (and nodes of a batch) worked on at once by :func:`build_chunks` after grouping.
_DRAW_ROWS = 1 << 18
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
    table: pd.DataFrame | FrameOnDisk | None  # the l2 table (or its files, see build_chunks)
    sv_first: np.ndarray  # (L,) uint64 ID of the first supervoxel of every L2
    sv_count: np.ndarray  # (L,) uint8 (uint16 if needed) supervoxels of every L2


def build_chunks(nodes: Nodes, piece: np.ndarray, rng: np.random.Generator,
                 table_out: Path | None = None, node_out: Path | None = None) -> Chunks:
    """Group nodes into L2 chunks (cell x piece x chunk-grid cell); supervoxels; IDs.

    Made a batch of whole cells (about :data:`_BATCH_NODES` nodes) at a time: an L2 chunk
    never spans cells and the chunks are numbered cell by cell, so each batch's chunks are
    the next ones. What is counted over all chunks (the rank of a chunk among the earlier
    chunks of its grid cell, the supervoxels before it there) is carried from batch to batch
    in one counter per grid cell, and every random array is drawn in order, a slice of
    chunks at a time (the same numbers as drawing it whole). Memory: the nodes' L2 index (4
    bytes a node), a few dozen bytes an L2 chunk and one batch's temporaries, not the ~25
    bytes a node of sorting all nodes at once.

    Parameters
    ----------
    nodes
        From :func:`~napari_crant.demo.morphology.grow_morphology`.
    piece
        Piece label of every node (:attr:`~napari_crant.demo.edits.EditPlan.piece`).
    rng
        Random generator of this stage.
    table_out
        A new directory: the ``l2`` table is written there a slice at a time
        (:class:`~napari_crant.demo.spill.FrameOnDisk`, read back with its ``read``) instead
        of held as a DataFrame.

    node_out
        If given (a directory), the nodes' L2 index (:attr:`Chunks.l2_of_node`) is made as a
        file there and held as a memory map (file pages, not heap): the same values.

    Returns
    -------
    Chunks
    """
    n_nodes = len(nodes.entity)
    node_files = KeyFiles(node_out)
    l2_of_node = node_files.array("l2_of_node", n_nodes, node_index_dtype(n_nodes))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("ckey", "group_key", "l2_group")}
    # read once, a slice at a time: on disk next to the table's files when it has them
    later = _PerChunk(None if table_out is None
                      else table_out.with_name(table_out.name + ".per-chunk"))
    n_l2 = n_groups = 0
    for lo, hi in cell_batches(nodes.start, _BATCH_NODES):
        grouped = group_batch(nodes, piece, lo, hi, CHUNK_NM, _DRAW_ROWS)
        for k in ("rep", "max_r", "size", "has_soma"):
            later.append(k, grouped.pop(k))
        l2_of_node[lo:hi] = grouped.pop("l2_of_node")
        l2_of_node[lo:hi] += n_l2
        grouped["l2_group"] += n_groups
        grouped["l2_group"] = grouped["l2_group"].astype(l2_of_node.dtype)  # 4 bytes
        n_l2 += len(grouped["ckey"])
        n_groups += len(grouped["group_key"])
        for k, v in grouped.items():
            parts[k].append(v)
        del grouped
        release_pages(nodes.pos, nodes.parent, nodes.entity, nodes.comp, nodes.radius,
                      l2_of_node)  # mapped ones (make_demo's) leave the resident set
    l2_index = node_index_dtype(n_l2)
    joined = {}
    for k in list(parts):  # one at a time, each one's parts dropped as it is made
        joined[k] = np.concatenate(parts.pop(k)) if n_l2 else np.zeros(0, np.int64)
    if l2_of_node.dtype != l2_index:
        l2_of_node = l2_of_node.astype(l2_index)
    l2_of_node = node_files.filled("l2_of_node", l2_of_node)
    l2_ckey = joined.pop("ckey")
    rep = later.get("rep")
    cells = GridCounts(l2_ckey)

    salt = np.uint64(rng.integers(1 << 62))
    l2_id = np.empty(n_l2, dtype=np.uint64)
    for lo, hi in _slices(n_l2):  # the jitter drawn in order; ranks counted per grid cell
        ckey = l2_ckey[lo:hi]
        jitter = rng.integers(0, 3, hi - lo).astype(np.int8)
        offset = _chunk_offset(ckey, salt)
        rank = cells.add(ckey, np.ones(hi - lo, dtype=np.int64))
        counter = 1 + offset.astype(np.int64) + 3 * rank + jitter
        if len(counter) and int(counter.max()) >= 1 << COUNTER_BITS:
            raise ValueError("L2 counters overflow their bits in the chunk IDs")
        chunk = np.stack([ckey >> 20, (ckey >> 10) & 1023, ckey & 1023], axis=1)
        prefix = pcg_ids(0, chunk, np.zeros(hi - lo, dtype=np.uint64))  # chunk bits only
        l2_id[lo:hi] = (prefix | (np.uint64(2) << np.uint64(LAYER_SHIFT))
                        | counter.astype(np.uint64))
        del ckey, jitter, offset, rank, counter, chunk, prefix

    table = _L2Table(n_l2, table_out)
    table.put("l2_id", l2_id)
    for lo, hi in _slices(n_l2):  # representative point: pos * 1000 + noise
        rep_nm = rng.normal(0.0, 60.0, (hi - lo, 3))
        rep_nm += nodes.pos[rep[lo:hi]].astype(np.float64) * 1000.0
        for i, ax in enumerate("xyz"):
            table.put(ax, np.round(rep_nm[:, i], 1), lo)
        del rep_nm
    del rep
    max_r, size_nm3 = later.get("max_r"), later.get("size")
    for lo, hi in _slices(n_l2):
        table.put("max_dt_nm", np.round(max_r[lo:hi].astype(np.float64) * 1000.0
                                        * rng.uniform(0.85, 1.0, hi - lo), 1), lo)
    del max_r
    for lo, hi in _slices(n_l2):
        table.put("size_nm3", np.round(size_nm3[lo:hi] * rng.uniform(0.9, 1.1, hi - lo)), lo)
    del size_nm3

    # supervoxels: a few per L2 chunk, more in the soma, counted per grid cell like the L2s
    has_soma = later.get("has_soma")
    cells.reset()
    n_sv = np.empty(n_l2, dtype=np.uint32)
    sv_first = np.empty(n_l2, dtype=np.uint64)
    prefix_bits = np.uint64(((1 << 30) - 1) << COUNTER_BITS)  # the chunk coordinates
    for lo, hi in _slices(n_l2):
        n = 1 + rng.poisson(1.3, hi - lo) + 4 * has_soma[lo:hi].astype(np.int64)
        chunk_base = cells.add(l2_ckey[lo:hi], n)  # supervoxels before, in its grid cell
        counter_base = 1 + 5 * _chunk_offset(l2_ckey[lo:hi], salt).astype(np.int64) \
            + 2 * chunk_base
        # the k-th supervoxel of a chunk has counter counter_base + 2 k: while the counters
        # fit their bits, its ID (prefix | layer | counter) is the first one's plus 2 k
        if len(n) and int((counter_base + 2 * (n - 1)).max()) >= 1 << COUNTER_BITS:
            raise ValueError("supervoxel counters overflow their bits in the chunk IDs")
        first = l2_id[lo:hi] & prefix_bits
        first |= np.uint64(1) << np.uint64(LAYER_SHIFT)
        first |= counter_base.astype(np.uint64)
        sv_first[lo:hi] = first
        n_sv[lo:hi] = n
        del n, chunk_base, counter_base, first
    del has_soma
    later.remove()
    sv_count = n_sv.astype(np.min_scalar_type(int(n_sv.max()) if n_l2 else 0))
    del n_sv
    l2_group = joined.pop("l2_group").astype(l2_index)
    return Chunks(l2_of_node=l2_of_node, l2_id=l2_id, l2_group=l2_group,
                  group_key=joined.pop("group_key"), table=table.done(),
                  sv_first=sv_first, sv_count=sv_count)


def _slices(n: int) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` of consecutive slices of ``n`` rows, :data:`_DRAW_ROWS` each."""
    for lo in range(0, n, _DRAW_ROWS):
        yield lo, min(lo + _DRAW_ROWS, n)


class _PerChunk:
    """Per-chunk arrays made batch by batch and read later a slice at a time: joined in
    memory, or (with ``directory``) appended to raw files there and read back as
    :class:`~napari_crant.demo.spill.OnDisk` arrays."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.parts: dict[str, list[np.ndarray]] = {}
        self.dtypes: dict[str, np.dtype] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=False)

    def append(self, name: str, values: np.ndarray) -> None:
        """The next chunks' values of ``name``."""
        self.dtypes[name] = values.dtype
        if self.directory is None:
            self.parts.setdefault(name, []).append(values)
        else:
            with open(self.directory / name, "ab") as f:
                values.tofile(f)

    def get(self, name: str) -> np.ndarray | OnDisk:
        """All chunks' values of ``name``."""
        if self.directory is None:
            return np.concatenate(self.parts.pop(name))
        return OnDisk(self.directory / name, self.dtypes[name])

    def remove(self) -> None:
        """Drop the files (if any)."""
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def _chunk_offset(ckey: np.ndarray, salt: np.uint64) -> np.ndarray:
    """A chunk's counter offset (other objects in the grid cell): a hash of its grid key,
    below 400 (int16)."""
    return (splitmix(ckey.astype(np.uint64) ^ salt) % np.uint64(400)).astype(np.int16)


class _L2Table:
    """The ``l2`` table filled a column slice at a time: in one float block (as a
    DataFrame) or, with ``out``, in files (:class:`~napari_crant.demo.spill.FrameOnDisk`)."""

    FLOATS = ("x", "y", "z", "max_dt_nm", "size_nm3")

    def __init__(self, n_rows: int, out: Path | None):
        self.n_rows = n_rows
        if out is None:
            self.floats = np.empty((len(self.FLOATS), n_rows), dtype=np.float64)
            self.files = None
        else:
            self.files = FrameOnDisk(out, {"l2_id": np.uint64, **dict.fromkeys(
                self.FLOATS, np.float64)}, n_rows)

    def put(self, column: str, values: np.ndarray, lo: int = 0) -> None:
        """The rows ``lo:lo + len(values)`` of ``column`` (in order, when in files)."""
        if self.files is not None:
            self.files.write(column, values)
        elif column == "l2_id":
            self.l2_id = values
        else:
            self.floats[self.FLOATS.index(column), lo:lo + len(values)] = values

    def done(self) -> pd.DataFrame | FrameOnDisk:
        """The table: the float block taken as is (no copy), or the finished files."""
        if self.files is not None:
            self.files.close()
            return self.files
        table = pd.DataFrame(self.floats.T, columns=list(self.FLOATS), copy=False)
        table.insert(0, "l2_id", self.l2_id)
        del self.floats
        return table


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


def l2_edges_table(nodes: Nodes, ch: Chunks, extra: list[tuple[int, int]],
                   slice_nodes: int = _SLICE_ROWS, out: Path | None = None
                   ) -> pd.DataFrame | FrameOnDisk:
    """The ``l2_edges`` table: chunks joined by a skeleton edge, plus ``extra`` node pairs.

    ``extra`` are the false contacts of :class:`~napari_crant.demo.edits.Scenario` (where
    two cells were wrongly merged). The nodes are taken ``slice_nodes`` at a time, each
    slice's distinct edges kept, so memory grows with the edges, not the nodes. The chunks'
    ranks by ID are held in 4 bytes a chunk (8 while they are sorted), the IDs in order made
    only once the edges are. The rows come sorted by ``l2_a``, then ``l2_b``.

    With ``out`` (a new directory) the table is written there a slice at a time and
    returned as a :class:`~napari_crant.demo.spill.FrameOnDisk`, never whole in memory.
    """
    by_id = np.argsort(ch.l2_id)
    rank = np.empty(len(by_id), dtype=node_index_dtype(len(by_id)))
    rank[by_id] = np.arange(len(by_id), dtype=rank.dtype)
    del by_id

    def edge_keys(a: np.ndarray, b: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """Distinct ``min << 32 | max`` of the ranks (by ID) of chunk pairs, sorted."""
        keep = a != b
        ra, rb = rank[a[keep]], rank[b[keep]]
        return np.unique((np.minimum(ra, rb).astype(np.int64) << 32) | np.maximum(ra, rb))

    parts = []
    for lo in range(0, len(nodes.parent), slice_nodes):
        parent = nodes.parent[lo:lo + slice_nodes]
        child = np.flatnonzero(parent >= 0)
        parts.append(edge_keys(ch.l2_of_node[lo + child], ch.l2_of_node[parent[child]],
                               rank))
        del parent, child
        release_pages(nodes.parent, ch.l2_of_node)  # mapped ones leave the resident set
    if extra:
        ex = np.array(extra, dtype=np.int64)
        parts.append(edge_keys(ch.l2_of_node[ex[:, 0]], ch.l2_of_node[ex[:, 1]], rank))
    del rank
    key = np.empty(sum(len(p) for p in parts), dtype=np.int64)  # filled as the parts go
    at = 0
    for p in _popped(parts):
        key[at:at + len(p)] = p
        at += len(p)
        del p
    key.sort()  # in place, then the distinct ones: np.unique's values
    key = key[runs(key)]
    ids = np.sort(ch.l2_id)  # ch.l2_id[by_id]
    if out is None:
        return pd.DataFrame({"l2_a": ids[key >> 32], "l2_b": ids[key & 0xFFFFFFFF]})
    table = FrameOnDisk(out, {"l2_a": np.uint64, "l2_b": np.uint64}, len(key))
    try:
        for lo in range(0, len(key), slice_nodes):
            part = key[lo:lo + slice_nodes]
            table.write("l2_a", ids[part >> 32])
            table.write("l2_b", ids[part & 0xFFFFFFFF])
        table.close()
    except BaseException:
        table.remove()
        raise
    return table


def _popped(parts: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The parts, first to last, each dropped from the list as it is handed out."""
    parts.reverse()
    while parts:
        yield parts.pop()


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
