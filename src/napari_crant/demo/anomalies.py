"""Stage 9 of the demo: planted quality-control anomalies and unsegmented synapse sites.

A few synapses are added that QC workflows should find: far from both arbors,
near-duplicates, pre and post on one supervoxel, autapses. About 1% of the ordinary
synapses get an unsegmented (``0``) postsynaptic supervoxel. The row numbers of all of them,
and of the synapses on orphan fragments, are returned for ``info["planted_anomalies"]``.
"""

from __future__ import annotations

import numpy as np

from napari_crant.demo import anatomy
from napari_crant.demo.chunks import VOXEL_RESOLUTION, Chunks, pick_supervoxels
from napari_crant.demo.morphology import DENDRITE, Nodes
from napari_crant.demo.population import Cells
from napari_crant.demo.synapses import DrawnSynapses, to_voxels


def plant_anomalies(nodes: Nodes, cells: Cells, ch: Chunks, drawn: DrawnSynapses,
                    edited: np.ndarray, rng: np.random.Generator
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Add the planted rows to the synapse columns and unsegment a few postsynaptic sites.

    Parameters
    ----------
    nodes, cells, ch
        Results of the earlier stages.
    drawn
        From :func:`~napari_crant.demo.synapses.draw_synapses`. Its ``columns`` dict is
        updated in place (to bound memory) and returned.
    edited
        Boolean mask of the cells any edit touches; anomalies are planted on others.
    rng
        Random generator of the synapse stage.

    Returns
    -------
    columns
        All synapse columns: the drawn rows, then the planted ones.
    planted
        Row numbers by kind: ``far_from_arbor``, ``near_duplicate``, ``autapse``,
        ``same_supervoxel`` and ``on_fragment``.
    """
    n_neurons = cells.n_neurons
    cols, sa, sd = drawn.columns, drawn.pre_node, drawn.post_node
    ent_a, ent_d = nodes.entity[sa], nodes.entity[sd]
    clean = (ent_a < n_neurons) & (ent_d < n_neurons) & ~edited[ent_a] & ~edited[ent_d]
    extra, planted = _planted_rows(nodes, cells, ch, cols, sa, sd, clean, rng)
    n_regular = len(sa)
    # unsegmented post-synaptic sites (not on planted rows)
    unseg = rng.random(n_regular) < 0.01
    cols["post_pt_supervoxel_id"][unseg] = 0
    planted["on_fragment"] = np.flatnonzero((ent_a >= n_neurons)
                                            | ((ent_d >= n_neurons) & ~unseg))
    del ent_a, ent_d, clean, unseg
    for k in cols:  # one column at a time: at 20M synapses a second copy of all is too much
        cols[k] = np.concatenate([cols[k], extra[k]])
    return cols, planted


def _planted_rows(nodes: Nodes, cells: Cells, ch: Chunks, cols: dict[str, np.ndarray],
                  a: np.ndarray, d: np.ndarray, clean: np.ndarray, rng: np.random.Generator
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Planted QC anomalies: new synapse rows and their row numbers (after ``cols``)."""
    n = cells.n_neurons
    k = max(4, round(0.005 * n))
    total = len(a)
    rows: list[dict[str, np.ndarray]] = []
    kinds: dict[str, list[int]] = {"far_from_arbor": [], "near_duplicate": [], "autapse": [],
                                   "same_supervoxel": []}
    pool = np.flatnonzero(clean)
    if len(pool) == 0:
        pool = np.arange(total)
    if total == 0:
        empty = {key: np.zeros(0, dtype=v.dtype) for key, v in cols.items()}
        return empty, {kk: np.zeros(0, np.int64) for kk in kinds}
    res = np.array(VOXEL_RESOLUTION, dtype=np.float64)
    vol = np.array(anatomy.VOLUME_UM)

    def copy_row(i: int) -> dict[str, np.ndarray]:
        return {key: v[i:i + 1].copy() for key, v in cols.items()}

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
    for i in rng.choice(pool, min(k * 4, len(pool)), replace=False):
        if len(kinds["far_from_arbor"]) >= k:
            break
        ents = (nodes.entity[a[i]], nodes.entity[d[i]])
        pts = np.concatenate([nodes.pos[nodes.start[e]:nodes.start[e + 1]] for e in ents])
        ctr = np.array([cols[f"ctr_pt_position_{ax}"][i] for ax in "xyz"]) * res / 1000.0
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
    for i in rng.choice(pool, min(k, len(pool)), replace=False):
        row = copy_row(i)
        dx, dy = 0, 0
        while dx == 0 and dy == 0:
            dx, dy = (int(v) for v in rng.integers(-3, 4, 2))
        for name in ("pre", "post", "ctr"):
            row[f"{name}_pt_position_x"] = row[f"{name}_pt_position_x"] + dx
            row[f"{name}_pt_position_y"] = row[f"{name}_pt_position_y"] + dy
        add("near_duplicate", row)
    # pre and post on the same supervoxel
    for i in rng.choice(pool, min(k, len(pool)), replace=False):
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
        row = copy_row(int(pool[0]))
        row["pre_pt_supervoxel_id"] = pick_supervoxels(ch, ch.l2_of_node[[w]], rng)
        row["post_pt_supervoxel_id"] = pick_supervoxels(ch, ch.l2_of_node[[v]], rng)
        u = rng.normal(0.0, 1.0, 3)
        u /= np.linalg.norm(u)
        place(row, nodes.pos[v].astype(np.float64) + rng.normal(0.0, 0.1, 3), u)
        add("autapse", row)
    extra = {key: np.concatenate([r[key] for r in rows]) if rows else
             np.zeros(0, dtype=v.dtype) for key, v in cols.items()}
    return extra, {kk: np.array(vv, dtype=np.int64) for kk, vv in kinds.items()}
