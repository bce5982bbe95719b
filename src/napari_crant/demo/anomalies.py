"""Stage 9 of the demo: planted quality-control anomalies and unsegmented synapse sites.

A few synapses are added that QC workflows should find: far from both arbors,
near-duplicates, pre and post on one supervoxel, autapses (:func:`plant_rows`; they copy a
few drawn rows, read back through a callable). About 1% of the ordinary synapses get an
unsegmented (``0``) postsynaptic supervoxel, and the synapses on orphan fragments are listed
too (both in :mod:`napari_crant.demo.synapse_stream`): ``info["planted_anomalies"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from napari_crant.demo import anatomy
from napari_crant.demo.chunks import VOXEL_RESOLUTION, Chunks, pick_supervoxels
from napari_crant.demo.morphology import DENDRITE, Nodes
from napari_crant.demo.population import Cells
from napari_crant.demo.synapses import POSITION_COLUMNS, to_voxels

#: A drawn synapse row: its columns (1-element arrays), presynaptic and postsynaptic node.
RowReader = Callable[[int], tuple[dict[str, np.ndarray], int, int]]


class RowPool(Protocol):
    """The rows anomalies copy (clean rows), by position; ``choice`` as ``rng.choice``."""

    def __len__(self) -> int: ...

    def __getitem__(self, k: int) -> int: ...

    def choice(self, rng: np.random.Generator, m: int) -> list[int]: ...


def plant_rows(nodes: Nodes, cells: Cells, ch: Chunks, total: int, row_of: RowReader,
               pool: RowPool, rng: np.random.Generator
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Planted QC anomalies: new synapse rows and their row numbers (after the ``total`` drawn).

    Parameters
    ----------
    nodes, cells, ch
        Results of the earlier stages.
    total
        Number of drawn synapse rows; the planted rows are numbered from it.
    row_of
        Reads one drawn row: its columns and its two nodes.
    pool
        The drawn rows anomalies may copy (rows of never-edited neurons).
    rng
        Random generator of the synapse stage.

    Returns
    -------
    columns
        The planted rows' synapse columns (``size`` int64, IDs uint64, positions int64).
    planted
        Row numbers by kind: ``far_from_arbor``, ``near_duplicate``, ``autapse`` and
        ``same_supervoxel``.
    """
    n = cells.n_neurons
    k = max(4, round(0.005 * n))
    rows: list[dict[str, np.ndarray]] = []
    kinds: dict[str, list[int]] = {"far_from_arbor": [], "near_duplicate": [], "autapse": [],
                                   "same_supervoxel": []}
    if total == 0:
        empty = {key: np.zeros(0, dtype=np.uint64 if key.endswith("_id") else np.int64)
                 for key in ("pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size",
                             *POSITION_COLUMNS)}
        return empty, {kk: np.zeros(0, np.int64) for kk in kinds}
    res = np.array(VOXEL_RESOLUTION, dtype=np.float64)
    vol = np.array(anatomy.VOLUME_UM)

    def copy_row(i: int) -> dict[str, np.ndarray]:
        return row_of(i)[0]

    def add(kind: str, row: dict[str, np.ndarray]) -> None:
        row["size"] = np.maximum(1, np.round(rng.lognormal(np.log(220.0), 0.8, 1))).astype(
            np.int64)
        kinds[kind].append(total + len(rows))
        rows.append(row)

    def place(row: dict[str, np.ndarray], ctr_um: np.ndarray, u: np.ndarray) -> None:
        for name, p in (("pre", ctr_um + u * 0.03), ("post", ctr_um - u * 0.03),
                        ("ctr", ctr_um)):
            v = to_voxels(p[None, :])[0]
            for j, ax in enumerate("xyz"):
                row[f"{name}_pt_position_{ax}"] = np.array([v[j]], dtype=np.int64)

    # far from both arbors (> 8 um from every node of both cells; ordinary synapses lie
    # within ~1 um of their cells' nodes and within ~3.5 um of their L2 chunks' points)
    for i in pool.choice(rng, min(k * 4, len(pool))):
        if len(kinds["far_from_arbor"]) >= k:
            break
        cols, a, d = row_of(i)
        ents = (nodes.entity[a], nodes.entity[d])
        pts = np.concatenate([nodes.pos[nodes.start[e]:nodes.start[e + 1]] for e in ents])
        ctr = np.array([cols[f"ctr_pt_position_{ax}"][0] for ax in "xyz"]) * res / 1000.0
        for _ in range(20):
            u = rng.normal(0.0, 1.0, 3)
            u /= np.linalg.norm(u)
            cand = ctr + u * rng.uniform(10.0, 16.0)
            if (cand < 2).any() or (cand > vol - 2).any():
                continue
            if np.linalg.norm(pts - cand, axis=1).min() > 8.0:
                row = copy_row(i)
                place(row, cand, u)
                add("far_from_arbor", row)
                break
    # near-duplicates: same partners (same supervoxels), < 50 nm away
    for i in pool.choice(rng, min(k, len(pool))):
        row = copy_row(i)
        dx, dy = 0, 0
        while dx == 0 and dy == 0:
            dx, dy = (int(v) for v in rng.integers(-3, 4, 2))
        for name in ("pre", "post", "ctr"):
            row[f"{name}_pt_position_x"] = row[f"{name}_pt_position_x"] + dx
            row[f"{name}_pt_position_y"] = row[f"{name}_pt_position_y"] + dy
        add("near_duplicate", row)
    # pre and post on the same supervoxel
    for i in pool.choice(rng, min(k, len(pool))):
        row = copy_row(i)
        row["pre_pt_supervoxel_id"] = row["post_pt_supervoxel_id"].copy()
        add("same_supervoxel", row)
    # autapses: a dendrite node and a neighbouring chunk of the same cell
    dend = np.flatnonzero((nodes.comp == DENDRITE) & (nodes.entity < n))
    for v in rng.choice(dend, min(k * 3, len(dend)), replace=False) if len(dend) else []:
        if len(kinds["autapse"]) >= k:
            break
        w = int(v)
        for _ in range(6):
            p = nodes.parent[w]
            if p < 0:
                break
            w = int(p)
            if ch.l2_of_node[w] != ch.l2_of_node[v]:
                break
        if ch.l2_of_node[w] == ch.l2_of_node[v]:
            continue
        row = copy_row(pool[0])
        row["pre_pt_supervoxel_id"] = pick_supervoxels(ch, ch.l2_of_node[[w]], rng)
        row["post_pt_supervoxel_id"] = pick_supervoxels(ch, ch.l2_of_node[[v]], rng)
        u = rng.normal(0.0, 1.0, 3)
        u /= np.linalg.norm(u)
        place(row, nodes.pos[v].astype(np.float64) + rng.normal(0.0, 0.1, 3), u)
        add("autapse", row)
    names = ("pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size", *POSITION_COLUMNS)
    extra = {key: np.concatenate([r[key] for r in rows]) if rows else
             np.zeros(0, dtype=np.uint64 if key.endswith("_id") else np.int64) for key in names}
    return extra, {kk: np.array(vv, dtype=np.int64) for kk, vv in kinds.items()}
