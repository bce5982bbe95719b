"""Stage 3 of the demo: the skeletons (arbors) of all neurons and fragments.

Every neuron gets a root node (its soma, or where its axon enters the volume), a primary
neurite to a branch point and cables from there to arbors in its type's input (dendrite)
and output (axon) neuropils; efferent neurons also get an axon that leaves the volume.
Arbors are random-walk branching trees (:mod:`napari_crant.demo.arbors`) that fill a zone of
the neuropil, so neurons sharing a zone overlap strongly. Orphan fragments are small twigs
next to the arbors of other cells.

Compartment codes (:attr:`Nodes.comp`, and ``compartment`` in ``skeleton_nodes.arrow``):
:data:`SOMA` 0, :data:`NEURITE` 1 (primary neurite, cables, axon leaving the volume),
:data:`DENDRITE` 2, :data:`AXON` 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_crant.demo import anatomy
from napari_crant.demo.arbors import cables, grow_arbors
from napari_crant.demo.population import Cells, Neuropils, resolve_neuropil

#: Compartment codes of the nodes (int8).
SOMA, NEURITE, DENDRITE, AXON = 0, 1, 2, 3
#: Name of every compartment code.
COMPARTMENTS = {SOMA: "soma", NEURITE: "neurite", DENDRITE: "dendrite", AXON: "axon"}


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


def grow_morphology(cells: Cells, nps: Neuropils, zone_scale: float,
                    rng: np.random.Generator) -> Nodes:
    """Skeletons of all neurons and fragments (see the module docstring).

    Parameters
    ----------
    cells
        From :func:`~napari_crant.demo.population.draw_population` (not modified).
    nps
        From :func:`~napari_crant.demo.population.draw_neuropils`.
    zone_scale
        Share of every neuropil's zones in use (fewer zones in small demos keeps arbors
        overlapping).
    rng
        Random generator of this stage.

    Returns
    -------
    Nodes
    """
    types = anatomy.CELL_TYPES
    n = cells.n_neurons
    e_all = len(cells.ctype)
    n_frag = e_all - n

    # arbor specifications
    a_ent, a_comp, a_center, a_radii, a_target = [], [], [], [], []
    for i, t in enumerate(types):
        for s in (0, 1, 2):
            ents = np.flatnonzero((cells.ctype[:n] == i) & (cells.side[:n] == s))
            if len(ents) == 0:
                continue
            for comp, refs, budget in ((DENDRITE, t.dendrites, t.dend_nodes),
                                       (AXON, t.axons, t.axon_nodes)):
                for ref in refs:
                    name = resolve_neuropil(ref, s)
                    k = nps.index[name]
                    n_zones = max(2, round(len(nps.zones[name]) * zone_scale))
                    zones = nps.zones[name][:n_zones]
                    m = len(ents)
                    target = np.maximum(4, np.round(budget * rng.uniform(0.75, 1.3, m)))
                    if t.spread == "wide":
                        c = nps.center[k] + rng.normal(0.0, 2.0, (m, 3))
                        r = np.broadcast_to(nps.half[k] * 0.85, (m, 3)).copy()
                    else:
                        z = (cells.glom[ents] % n_zones if t.glomerular
                             else rng.integers(0, n_zones, m))
                        c = zones[z] + rng.normal(0.0, 1.5, (m, 3))
                        f = np.clip(1.3 / n_zones ** (1 / 3), 0.28, 0.8)
                        cap = np.maximum(3.0, 1.7 * target ** (1 / 3))[:, None]
                        r = np.minimum(nps.half[k] * f, cap) * rng.uniform(0.8, 1.2, (m, 1))
                    a_ent.append(ents)
                    a_comp.append(np.full(m, comp))
                    a_center.append(c)
                    a_radii.append(r)
                    a_target.append(target)
    a_ent = np.concatenate(a_ent)
    a_comp = np.concatenate(a_comp)
    a_center = np.concatenate(a_center)
    a_radii = np.concatenate(a_radii)
    a_target = np.concatenate(a_target).astype(np.int64)

    pos_parts, par_parts, ent_parts, comp_parts = [], [], [], []

    def add(p: np.ndarray, par: np.ndarray, ent: np.ndarray, comp: np.ndarray) -> None:
        # node and entity indices in 4 bytes while they fit (the same values, half the bytes)
        index = node_index_dtype(sum(len(x) for x in pos_parts) + len(p))
        pos_parts.append(p.astype(np.float32, copy=False))
        par_parts.append(par.astype(index, copy=False))
        ent_parts.append(ent.astype(index, copy=False))
        comp_parts.append(comp.astype(np.int8, copy=False))

    # root nodes of the neurons: soma, or where the axon enters the volume
    add(cells.root_pos[:n], np.full(n, -1), np.arange(n),
        np.where(cells.has_soma[:n], SOMA, NEURITE))
    next_node = n

    # primary neurite from the root to a branch point J, on the way to the arbors
    sums = np.zeros((n, 3))
    np.add.at(sums, a_ent, a_center)
    cnt = np.bincount(a_ent, minlength=n)
    target_mean = sums / np.maximum(cnt, 1)[:, None]
    frac = np.where(cells.has_soma[:n], rng.uniform(0.35, 0.55, n), rng.uniform(0.5, 0.75, n))
    junction = (cells.root_pos[:n] + frac[:, None] * (target_mean - cells.root_pos[:n])
                + rng.normal(0.0, 3.0, (n, 3)))
    p, par, j_node, cab = cables(cells.root_pos[:n], junction, np.arange(n), next_node, rng)
    add(p, par, cab, np.full(len(p), NEURITE))
    next_node += len(p)

    # efferent neurons: the axon leaves the volume
    exit_pt = np.full((n, 3), np.nan)
    for i, t in enumerate(types):
        if t.exit is None:
            continue
        for s in (0, 1, 2):
            m = (cells.ctype[:n] == i) & (cells.side[:n] == s)
            x = np.array(t.exit)
            if s == 1:
                x[0] = anatomy.mirror_x(x[0])
            exit_pt[m] = x + rng.normal(0.0, 1.5, (int(m.sum()), 3))
    ex = np.flatnonzero(~np.isnan(exit_pt[:, 0]))
    if len(ex):
        p, par, _, cab = cables(junction[ex], exit_pt[ex], j_node[ex], next_node, rng)
        add(p, par, ex[cab], np.full(len(p), NEURITE))
        next_node += len(p)

    # cables from J to the rim of every arbor, then the arbors
    jpos = junction[a_ent]
    d = jpos - a_center
    q = np.linalg.norm(d / a_radii, axis=1)
    rim = a_center + d * np.minimum(1.0, 0.75 / np.maximum(q, 1e-9))[:, None]
    p, par, last, cab = cables(jpos, rim, j_node[a_ent], next_node, rng)
    add(p, par, a_ent[cab], np.full(len(p), NEURITE))
    next_node += len(p)
    p, par, arb = grow_arbors(last, rim, a_center, a_radii, a_target, next_node, rng)
    # every arbor node's cell and compartment taken in the bytes they are kept in
    add(p, par, a_ent.astype(node_index_dtype(e_all))[arb], a_comp.astype(np.int8)[arb])
    next_node += len(p)

    # fragments: small twigs next to the arbors of other cells
    if n_frag:
        arbor_pos = p[rng.integers(0, len(p), n_frag)].astype(np.float64)
        vol = np.array(anatomy.VOLUME_UM)
        fpos = np.clip(arbor_pos + rng.normal(0.0, 2.0, (n_frag, 3)), 1.0, vol - 1.0)
        fcomp = np.where(rng.random(n_frag) < 0.5, DENDRITE, AXON)
        fent = np.arange(n, e_all)
        add(fpos, np.full(n_frag, -1), fent, fcomp)
        fp, fpar, farb = grow_arbors(
            np.arange(next_node, next_node + n_frag), fpos,
            fpos + rng.normal(0.0, 2.0, (n_frag, 3)), rng.uniform(2.5, 5.0, (n_frag, 1))
            * np.ones(3), rng.integers(4, 25, n_frag), next_node + n_frag, rng)
        add(fp, fpar, fent[farb], fcomp[farb])

    del p, par, arb, last, cab  # the arbors' float64 positions: not held while assembling
    # one array at a time, in place where the values stay the same (memory: a few copies of
    # one column, not of all of them)
    vol = np.array(anatomy.VOLUME_UM, dtype=np.float32)
    pos = np.concatenate(pos_parts)
    pos_parts.clear()
    np.clip(pos, 0.05, vol - 0.05, out=pos)
    parent = np.concatenate(par_parts)
    par_parts.clear()
    entity = np.concatenate(ent_parts)
    ent_parts.clear()
    comp = np.concatenate(comp_parts)
    comp_parts.clear()

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
    start = np.searchsorted(entity, np.arange(e_all + 1))

    # radius by compartment (float32 casts of the cells' radii, as casting after the choice)
    radius = cells.twig_r.astype(np.float32)[entity]
    for code, radii in ((NEURITE, cells.trunk_r), (SOMA, cells.soma_r)):
        mask = comp == code
        radius[mask] = radii.astype(np.float32)[entity[mask]]
        del mask
    index = node_index_dtype(len(entity))  # 4 bytes a node each instead of 8
    return Nodes(pos=pos, parent=parent.astype(index), entity=entity.astype(index), comp=comp,
                 radius=radius, start=start)


def node_index_dtype(n_nodes: int) -> np.dtype:
    """The integer type of node (and entity) indices among ``n_nodes`` nodes: int32 if they fit."""
    return np.dtype(np.int32) if n_nodes < 2**31 else np.dtype(np.int64)
