"""Stage 3's skeleton nodes, gathered as they grow and put in cell order, in memory or on disk.

Stage 3 (:func:`~napari_crant.demo.morphology.grow_morphology`) grows the nodes a kind at a
time over all cells at once (roots, primary neurites, axons, cables, arbors, fragments), so
they come in *growth order* and are then put in *cell order* (a stable sort by cell, parents
renumbered). :class:`NodesInMemory` keeps the parts and sorts them in memory, as the demo
always did. :class:`NodesOnDisk` appends every part to files as it is made and puts the
nodes in cell order on disk, a slice of nodes at a time (a counting sort: each cell's nodes
go to the cell's next free rows), so that the nodes are never all in memory: its
:class:`Nodes` are read-only memory maps of ``.npy`` files (file pages the kernel can drop,
not heap), read by the later stages like arrays. Both give the same values, bit for bit.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from napari_crant.demo import anatomy
from napari_crant.snapshot.key_files import release_pages

#: Compartment codes of the nodes (int8).
SOMA, NEURITE, DENDRITE, AXON = 0, 1, 2, 3
#: Name of every compartment code.
COMPARTMENTS = {SOMA: "soma", NEURITE: "neurite", DENDRITE: "dendrite", AXON: "axon"}
#: Nodes put in cell order at once by :class:`NodesOnDisk` (its temporaries are a slice's).
ASSEMBLE_ROWS = 1 << 20


@dataclass
class Nodes:
    """All skeleton nodes, grouped by entity (neurons, then fragments), parents first.

    Within an entity the nodes are in growth order: the root, the primary neurite, the
    cables and then the arbors, every node after its parent.
    """

    pos: np.ndarray  # (N, 3) float32 um
    parent: np.ndarray  # (N,) int32 (int64 past 2**31 nodes), global index, -1 for roots
    entity: np.ndarray  # (N,) int32 (int64 past 2**31 nodes)
    comp: np.ndarray  # (N,) int8
    radius: np.ndarray  # (N,) float32 um
    start: np.ndarray  # (E + 1,) first node of every entity


def node_index_dtype(n_nodes: int) -> np.dtype:
    """The integer type of node (and entity) indices among ``n_nodes`` nodes: int32 if they fit."""
    return np.dtype(np.int32) if n_nodes < 2**31 else np.dtype(np.int64)


class _Cells(Protocol):  # the fields of population.Cells read here
    twig_r: np.ndarray
    trunk_r: np.ndarray
    soma_r: np.ndarray


def _radius(cells: _Cells, entity: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """Radius by compartment (float32 casts of the cells' radii, as casting after the choice)."""
    radius = cells.twig_r.astype(np.float32)[entity]
    for code, radii in ((NEURITE, cells.trunk_r), (SOMA, cells.soma_r)):
        mask = comp == code
        radius[mask] = radii.astype(np.float32)[entity[mask]]
        del mask
    return radius


class NodesInMemory:
    """The grown nodes' parts kept in memory, put in cell order by :meth:`assemble`."""

    def __init__(self) -> None:
        self._parts: list[list[np.ndarray]] = [[], [], [], []]  # pos, parent, entity, comp
        self.n = 0

    def add(self, pos: np.ndarray, parent: np.ndarray, entity: np.ndarray,
            comp: np.ndarray) -> None:
        """Append nodes in growth order (parents are growth-order indices, -1 at a root)."""
        # node and entity indices in 4 bytes while they fit (the same values, half the bytes)
        index = node_index_dtype(self.n + len(pos))
        for parts, values, dtype in zip(self._parts, (pos, parent, entity, comp),
                                        (np.float32, index, index, np.int8), strict=True):
            parts.append(values.astype(dtype, copy=False))
        self.n += len(pos)

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """The positions (float32, as added) of the nodes at growth-order ``rows``."""
        ends = np.cumsum([len(p) for p in self._parts[0]])
        part = np.searchsorted(ends, rows, "right")
        out = np.empty((len(rows), 3), dtype=np.float32)
        for k in np.unique(part):
            at = part == k
            out[at] = self._parts[0][k][rows[at] - (ends[k] - len(self._parts[0][k]))]
        return out

    def assemble(self, cells: _Cells, n_entities: int) -> Nodes:
        """The nodes in cell order (the parts are dropped)."""
        # one array at a time, in place where the values stay the same (memory: a few copies
        # of one column, not of all of them)
        vol = np.array(anatomy.VOLUME_UM, dtype=np.float32)
        joined = []
        for parts in self._parts:
            joined.append(np.concatenate(parts))
            parts.clear()
        pos, parent, entity, comp = joined
        del joined
        np.clip(pos, 0.05, vol - 0.05, out=pos)
        # the order and its inverse in 4 bytes a node while they fit (the same values)
        order = np.argsort(entity, kind="stable").astype(node_index_dtype(len(entity)))
        pos = pos[order]
        entity = entity[order]
        comp = comp[order]
        parent = parent[order]
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order), dtype=order.dtype)
        del order
        root = parent < 0
        parent[root] = 0
        parent = inv[parent]  # as np.where(parent >= 0, inv[max(parent, 0)], -1)
        parent[root] = -1
        del inv, root
        start = np.searchsorted(entity, np.arange(n_entities + 1))
        radius = _radius(cells, entity, comp)
        index = node_index_dtype(len(entity))  # 4 bytes a node each instead of 8
        return Nodes(pos=pos, parent=parent.astype(index), entity=entity.astype(index),
                     comp=comp, radius=radius, start=start)


class NodesOnDisk:
    """The grown nodes appended to files in ``directory`` and put in cell order on disk.

    Parameters
    ----------
    directory
        A new directory; it holds the nodes' ``.npy`` files as long as the :class:`Nodes` of
        :meth:`assemble` are used (remove it after).
    """

    _GROWN = (("pos", np.float32, 3), ("parent", np.int64, 1), ("entity", np.int64, 1),
              ("comp", np.int8, 1))

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=False)
        self._grown = self.directory / "grown"
        self._grown.mkdir()
        self._files = {name: open(self._grown / name, "wb")  # noqa: SIM115 (until assemble)
                       for name, _, _ in self._GROWN}
        self.n = 0

    def add(self, pos: np.ndarray, parent: np.ndarray, entity: np.ndarray,
            comp: np.ndarray) -> None:
        """Append nodes in growth order (parents are growth-order indices, -1 at a root)."""
        for (name, dtype, _), values in zip(self._GROWN, (pos, parent, entity, comp),
                                            strict=True):
            np.ascontiguousarray(values, dtype=dtype).tofile(self._files[name])
        self.n += len(pos)

    def _read(self, name: str) -> np.memmap:
        for f in self._files.values():
            if not f.closed:
                f.flush()
        _, dtype, width = next(g for g in self._GROWN if g[0] == name)
        shape = (self.n, 3) if width == 3 else (self.n,)
        return np.memmap(self._grown / name, dtype=dtype, mode="r", shape=shape)

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """The positions (float32, as added) of the nodes at growth-order ``rows``."""
        return np.asarray(self._read("pos")[rows])

    def _create(self, name: str, dtype: np.dtype | type, shape: tuple[int, ...]) -> np.memmap:
        return np.lib.format.open_memmap(self.directory / f"{name}.npy", mode="w+",
                                         dtype=dtype, shape=shape)

    def assemble(self, cells: _Cells, n_entities: int) -> Nodes:
        """The nodes in cell order, as read-only memory maps (the growth-order files are
        removed)."""
        for f in self._files.values():
            f.close()
        n, step = self.n, ASSEMBLE_ROWS
        index = node_index_dtype(n)
        pos_in, parent_in = self._read("pos"), self._read("parent")
        entity_in, comp_in = self._read("entity"), self._read("comp")
        # every cell's first row: a stable sort by cell keeps a cell's nodes in growth order
        counts = np.zeros(n_entities, dtype=np.int64)
        for lo in range(0, n, step):
            counts += np.bincount(entity_in[lo:lo + step], minlength=n_entities)
        start = np.zeros(n_entities + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        del counts
        free = start[:-1].copy()  # every cell's next free row
        vol = np.array(anatomy.VOLUME_UM, dtype=np.float32)
        inv = np.lib.format.open_memmap(self._grown / "inv.npy", mode="w+", dtype=index,
                                        shape=(n,))  # growth row -> row in cell order
        pos, entity = self._create("pos", np.float32, (n, 3)), self._create("entity", index, (n,))
        comp = self._create("comp", np.int8, (n,))
        for lo in range(0, n, step):
            ent = np.asarray(entity_in[lo:lo + step])
            order = np.argsort(ent, kind="stable")
            by_cell = ent[order]
            first = np.flatnonzero(np.concatenate([[True], by_cell[1:] != by_cell[:-1]]))
            run = np.diff(np.append(first, len(by_cell)))
            dest = np.empty(len(ent), dtype=np.int64)
            dest[order] = free[by_cell] + (np.arange(len(ent)) - np.repeat(first, run))
            free[by_cell[first]] += run
            del order, by_cell, first, run
            inv[lo:lo + len(ent)] = dest
            p = np.array(pos_in[lo:lo + step])
            np.clip(p, 0.05, vol - 0.05, out=p)
            pos[dest] = p
            entity[dest] = ent
            comp[dest] = comp_in[lo:lo + step]
            del p, ent, dest
            # the pages stay in the page cache, not in this process's resident set
            release_pages(pos_in, entity_in, comp_in, inv, pos, entity, comp)
        parent = self._create("parent", index, (n,))
        for lo in range(0, n, step):
            par = np.asarray(parent_in[lo:lo + step])
            root = par < 0
            moved = inv[np.maximum(par, 0)]
            moved[root] = -1
            parent[inv[lo:lo + step]] = moved
            del par, root, moved
            release_pages(parent_in, inv, parent)
        del pos_in, parent_in, entity_in, comp_in, inv
        radius = self._create("radius", np.float32, (n,))
        for lo in range(0, n, step):
            radius[lo:lo + step] = _radius(cells, entity[lo:lo + step], comp[lo:lo + step])
            release_pages(radius, entity, comp)
        for made in (pos, parent, entity, comp, radius):
            made.flush()
        del pos, parent, entity, comp, radius
        shutil.rmtree(self._grown)

        def mapped(name: str) -> np.memmap:
            return np.load(self.directory / f"{name}.npy", mmap_mode="r")

        return Nodes(pos=mapped("pos"), parent=mapped("parent"), entity=mapped("entity"),
                     comp=mapped("comp"), radius=mapped("radius"), start=start)
