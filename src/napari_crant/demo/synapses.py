"""Stage 8 of the demo: synapses at the contacts, and their IDs.

Every contact carries one or more synapses, more for cell-type pairs and neuron pairs with a
strong (log-normal) affinity, so partner weights are heavy-tailed. Synapse positions are
integer voxels: pre- and postsynaptic points some 30-90 nm apart with the centre point
between them. IDs follow detection order (by coarse chunk of the centre point, small gaps).
The rows are drawn block by block and numbered by :mod:`napari_crant.demo.synapse_stream`.
"""

from __future__ import annotations

import numpy as np

from napari_crant.demo.chunks import VOXEL_RESOLUTION, Chunks, pick_supervoxels
from napari_crant.demo.morphology import Nodes

#: Position columns of the ``synapses`` table (integer voxels).
POSITION_COLUMNS = [f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"]


def to_voxels(p_um: np.ndarray) -> np.ndarray:
    """Positions in micrometres -> integer voxels at :data:`VOXEL_RESOLUTION`."""
    return np.round(p_um * 1000.0 / np.array(VOXEL_RESOLUTION, dtype=np.float64)).astype(
        np.int64)


def synapse_rows(nodes: Nodes, ch: Chunks, a: np.ndarray, d: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Synapses between axon nodes ``a`` and dendrite nodes ``d`` (one per pair).

    The arithmetic is done in place where it can (same operations, same order, same random
    draws: the same values as ``pa + ta * (parent - pa) + noise`` and so on), so a block of
    rows holds a few ``(m, 3)`` arrays at a time.
    """
    m = len(a)
    pa = nodes.pos[a].astype(np.float64)
    pd_ = nodes.pos[d].astype(np.float64)
    # spread along the cable towards the parent node, then a little off it
    ta = rng.uniform(0.0, 0.5, (m, 1))
    td = rng.uniform(0.0, 0.5, (m, 1))
    A = nodes.pos[np.maximum(nodes.parent[a], 0)] - pa
    A *= ta
    A += pa
    del pa, ta
    A += rng.normal(0, 0.12, (m, 3))
    D = nodes.pos[np.maximum(nodes.parent[d], 0)] - pd_
    D *= td
    D += pd_
    del pd_, td
    D += rng.normal(0, 0.12, (m, 3))
    ctr = D - A
    ctr *= rng.uniform(0.35, 0.65, (m, 1))
    ctr += A
    u = A
    u -= D  # A - D
    del A, D
    u += rng.normal(0.0, 1e-3, (m, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    half = rng.uniform(0.015, 0.045, (m, 1))  # pre and post 30-90 nm apart
    cols: dict[str, np.ndarray] = {
        "pre_pt_supervoxel_id": pick_supervoxels(ch, ch.l2_of_node[a], rng),
        "post_pt_supervoxel_id": pick_supervoxels(ch, ch.l2_of_node[d], rng),
        "size": np.maximum(1, np.round(rng.lognormal(np.log(220.0), 0.8, m))).astype(np.int64),
    }
    u *= half  # u * half
    del half
    pre = np.add(ctr, u)
    post = np.subtract(ctr, u, out=u)
    del u
    for name, p in (("pre", pre), ("post", post), ("ctr", ctr)):
        v = _voxels_in_place(p)
        del p
        for i, ax in enumerate("xyz"):
            cols[f"{name}_pt_position_{ax}"] = v[:, i]
    return cols


def _voxels_in_place(p_um: np.ndarray) -> np.ndarray:
    """:func:`to_voxels` of a float64 array it may overwrite (same operations, same order)."""
    p_um *= 1000.0
    p_um /= np.array(VOXEL_RESOLUTION, dtype=np.float64)
    np.round(p_um, out=p_um)
    return p_um.astype(np.int64)
