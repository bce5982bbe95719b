"""Stage 8 of the demo: synapses at the contacts, and their IDs.

Every contact carries one or more synapses, more for cell-type pairs and neuron pairs with a
strong (log-normal) affinity, so partner weights are heavy-tailed. Synapse positions are
integer voxels: pre- and postsynaptic points some 30-90 nm apart with the centre point
between them. IDs follow detection order (by coarse chunk of the centre point, small gaps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_crant.demo import anatomy
from napari_crant.demo.arrays import hash_normal
from napari_crant.demo.chunks import CHUNK_NM, VOXEL_RESOLUTION, Chunks, pick_supervoxels
from napari_crant.demo.contacts import Contacts
from napari_crant.demo.morphology import Nodes
from napari_crant.demo.population import Cells

#: Position columns of the ``synapses`` table (integer voxels).
POSITION_COLUMNS = [f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"]


@dataclass
class DrawnSynapses:
    """Synapse columns (``synapses`` table without ``id``) and the two nodes of every row."""

    columns: dict[str, np.ndarray]
    pre_node: np.ndarray  # (S,) int64
    post_node: np.ndarray  # (S,) int64


def to_voxels(p_um: np.ndarray) -> np.ndarray:
    """Positions in micrometres -> integer voxels at :data:`VOXEL_RESOLUTION`."""
    return np.round(p_um * 1000.0 / np.array(VOXEL_RESOLUTION, dtype=np.float64)).astype(
        np.int64)


def synapse_rows(nodes: Nodes, ch: Chunks, a: np.ndarray, d: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Synapses between axon nodes ``a`` and dendrite nodes ``d`` (one per pair)."""
    m = len(a)
    pa = nodes.pos[a].astype(np.float64)
    pd_ = nodes.pos[d].astype(np.float64)
    # spread along the cable towards the parent node, then a little off it
    ta = rng.uniform(0.0, 0.5, (m, 1))
    td = rng.uniform(0.0, 0.5, (m, 1))
    A = pa + ta * (nodes.pos[np.maximum(nodes.parent[a], 0)] - pa) + rng.normal(0, 0.12, (m, 3))
    D = pd_ + td * (nodes.pos[np.maximum(nodes.parent[d], 0)] - pd_) + rng.normal(0, 0.12,
                                                                                   (m, 3))
    ctr = A + (D - A) * rng.uniform(0.35, 0.65, (m, 1))
    u = A - D + rng.normal(0.0, 1e-3, (m, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    half = rng.uniform(0.015, 0.045, (m, 1))  # pre and post 30-90 nm apart
    cols: dict[str, np.ndarray] = {
        "pre_pt_supervoxel_id": pick_supervoxels(ch, ch.l2_of_node[a], rng),
        "post_pt_supervoxel_id": pick_supervoxels(ch, ch.l2_of_node[d], rng),
        "size": np.maximum(1, np.round(rng.lognormal(np.log(220.0), 0.8, m))).astype(np.int64),
    }
    for name, p in (("pre", ctr + u * half), ("post", ctr - u * half), ("ctr", ctr)):
        v = to_voxels(p)
        for i, ax in enumerate("xyz"):
            cols[f"{name}_pt_position_{ax}"] = v[:, i]
    return cols


def draw_synapses(nodes: Nodes, cells: Cells, ch: Chunks, contacts: Contacts,
                  per_neuron: float, rng: np.random.Generator, seed: int,
                  block: int = 1 << 21) -> DrawnSynapses:
    """Turn contacts into synapses.

    Parameters
    ----------
    nodes, cells, ch, contacts
        Results of the earlier stages.
    per_neuron
        Target number of synapses per neuron.
    rng
        Random generator of this stage.
    seed
        The demo's seed (salts the per-neuron-pair affinity hash).
    block
        Rows computed at once (bounds memory).

    Returns
    -------
    DrawnSynapses
    """
    ca, cd = contacts.pre, contacts.post
    n_types = len(anatomy.CELL_TYPES)
    aff = rng.lognormal(0.0, 0.7, (n_types + 1, n_types + 1))
    aff[rng.random(aff.shape) < 0.1] = 0.0  # some type pairs never connect
    aff[n_types, :] = 0.3  # orphan fragments: few synapses each
    aff[:, n_types] = 0.3
    ctype = cells.ctype.astype(np.int16)
    # weight of every contact: cell-type affinity x a per-neuron-pair log-normal factor
    w = np.empty(len(ca), dtype=np.float32)
    for s in range(0, len(ca), block):
        ea, ed = nodes.entity[ca[s:s + block]], nodes.entity[cd[s:s + block]]
        pair_key = ea.astype(np.uint64) * np.uint64(1 << 32) + ed.astype(np.uint64)
        w[s:s + block] = aff[ctype[ea], ctype[ed]] * np.exp(hash_normal(pair_key, seed))
    keep = w > 0
    target = per_neuron * cells.n_neurons
    c = int(keep.sum())
    if c * 1.2 > target:
        keep &= rng.random(len(w)) < target / (1.2 * c)
    ca, cd, w = ca[keep], cd[keep], w[keep]
    del keep
    c = len(w)
    per_contact = min(target / max(c, 1), 6.0)  # few contacts: fewer synapses, not huge ones
    lam = max(per_contact - 1.0, 0.0) / max(float(w.mean()) if c else 1.0, 1e-9)
    nsyn = 1 + rng.poisson(lam * w)
    rep = np.repeat(np.arange(c), nsyn)
    a, d = ca[rep], cd[rep]
    del rep
    total = len(a)
    cols = {k: np.empty(total, dtype=np.uint64 if k.endswith("supervoxel_id") else np.int64)
            for k in ("pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size", *POSITION_COLUMNS)}
    for s in range(0, total, block):
        part = synapse_rows(nodes, ch, a[s:s + block], d[s:s + block], rng)
        for k, v in part.items():
            cols[k][s:s + block] = v
    return DrawnSynapses(cols, a, d)


def number_synapses(cols: dict[str, np.ndarray], planted: dict[str, np.ndarray],
                    rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """Give synapses IDs in detection order and build the ``synapses`` table.

    Parameters
    ----------
    cols
        All synapse columns (emptied: they move into the table).
    planted
        Row numbers of planted anomalies, by kind.
    rng
        Random generator of the synapse stage.

    Returns
    -------
    synapses
        The ``synapses`` table, ordered by ID.
    anomalies
        Sorted synapse IDs of the planted anomalies, by kind.
    """
    total = len(cols["size"])
    # synapse IDs in detection order: by (coarse) chunk of the centre point, small gaps
    skey = np.zeros(total, dtype=np.int64)
    for i, ax in enumerate("xyz"):
        c = cols[f"ctr_pt_position_{ax}"] * (VOXEL_RESOLUTION[i] / CHUNK_NM[i] / 4)
        c = np.clip(np.floor(c), 0, 1023).astype(np.int64)
        c <<= 20 - 10 * i
        skey |= c
        del c
    order = np.argsort(skey, kind="stable")
    del skey
    ids_in_order = (np.uint64(1_000_000) + np.cumsum(rng.integers(1, 4, total)).astype(
        np.uint64))
    syn_id = np.empty(total, dtype=np.uint64)
    syn_id[order] = ids_in_order
    del ids_in_order
    synapses = pd.DataFrame({"id": syn_id[order]})
    for k in ("pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size", *POSITION_COLUMNS):
        synapses[k] = cols.pop(k)[order]
    anomalies = {k: [int(x) for x in np.sort(syn_id[v])] for k, v in planted.items()}
    return synapses, anomalies
