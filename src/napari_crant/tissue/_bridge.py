"""BRIDGE until the demo generator writes ``skeleton_nodes.arrow`` itself: delete on merge.

The demo generator will write the nodes table into the snapshot; until it does, this
rebuilds it from the generator's internals (the same stages and seeds as
``build_demo_tables``), so the tissue can be drawn and tested.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from napari_crant.demo import generator as g


def _nodes_from_generator(n_neurons: int, seed: int) -> pa.Table:
    """The ``skeleton_nodes.arrow`` table of ``make_demo(n_neurons=..., seed=...)``.

    Replays stages 1-7 of :func:`napari_crant.demo.generator.build_demo_tables`
    (default ``synapses_per_neuron``; the nodes do not depend on it).
    """
    n_frag = max(2, round(0.04 * n_neurons))
    nps = g._neuropils(g._stage_rng(seed, 1))
    cells = g._population(n_neurons, n_frag, g._stage_rng(seed, 2))
    zone_scale = float(np.clip(np.sqrt(n_neurons / 10_000), 0.3, 1.0))
    nodes = g._morphology(cells, nps, zone_scale, g._stage_rng(seed, 3))
    contact_r = float(np.clip((1000.0 / n_neurons) ** (1 / 3), 0.35, 1.2))
    ca, cd = g._contacts(nodes, contact_r, g._stage_rng(seed, 4))
    piece, _ = g._plan_edits(nodes, cells, ca, cd, g._stage_rng(seed, 5))
    ch = g._chunks(nodes, piece, g._stage_rng(seed, 7))

    l2 = ch.l2_of_node
    n_sv = ch.sv_start[l2 + 1] - ch.sv_start[l2]
    pick = np.arange(len(l2), dtype=np.int64) % n_sv
    pick[nodes.comp == g.SOMA] = 0  # the soma's first supervoxel is the nucleus's
    pos_nm = nodes.pos.astype(np.float64) * 1000.0
    return pa.table({
        "x": pos_nm[:, 0].astype(np.float32), "y": pos_nm[:, 1].astype(np.float32),
        "z": pos_nm[:, 2].astype(np.float32),
        "radius_nm": (nodes.radius.astype(np.float64) * 1000.0).astype(np.float32),
        "parent": nodes.parent.astype(np.int64),
        "l2_id": ch.l2_id[l2].astype(np.uint64),
        "sv_id": ch.sv_id[ch.sv_start[l2] + pick].astype(np.uint64),
        "compartment": nodes.comp.astype(np.int8),
    })
