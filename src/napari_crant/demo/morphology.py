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

from collections.abc import Callable
from pathlib import Path

import numpy as np

from napari_crant.demo import anatomy
from napari_crant.demo.arbors import cables, grow_arbors
from napari_crant.demo.node_files import (
    AXON,
    COMPARTMENTS,
    DENDRITE,
    NEURITE,
    SOMA,
    Nodes,
    NodesInMemory,
    NodesOnDisk,
    node_index_dtype,
)
from napari_crant.demo.population import Cells, Neuropils, resolve_neuropil

__all__ = ["AXON", "COMPARTMENTS", "DENDRITE", "NEURITE", "SOMA", "Nodes", "grow_morphology",
           "node_index_dtype"]


def grow_morphology(cells: Cells, nps: Neuropils, zone_scale: float,
                    rng: np.random.Generator, scratch: Path | None = None) -> Nodes:
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
    scratch
        If given (a new directory), the nodes are written there as they grow and put in
        cell order on disk (:class:`~napari_crant.demo.node_files.NodesOnDisk`): the
        returned arrays are read-only memory maps of files there (remove it once they are no
        longer used), with the values the nodes have in memory.

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

    made = NodesInMemory() if scratch is None else NodesOnDisk(scratch)
    add = made.add

    # root nodes of the neurons: soma, or where the axon enters the volume
    add(cells.root_pos[:n], np.full(n, -1), np.arange(n),
        np.where(cells.has_soma[:n], SOMA, NEURITE))

    def part(entity: np.ndarray | None, comp: int) -> Callable[..., None]:
        # a batch of cable nodes (cable ``c`` is ``entity[c]``'s) added as it is made
        def emit(p: np.ndarray, par: np.ndarray, c: np.ndarray) -> None:
            add(p, par, c if entity is None else entity[c], np.full(len(p), comp))
        return emit

    # primary neurite from the root to a branch point J, on the way to the arbors
    sums = np.zeros((n, 3))
    np.add.at(sums, a_ent, a_center)
    cnt = np.bincount(a_ent, minlength=n)
    target_mean = sums / np.maximum(cnt, 1)[:, None]
    frac = np.where(cells.has_soma[:n], rng.uniform(0.35, 0.55, n), rng.uniform(0.5, 0.75, n))
    junction = (cells.root_pos[:n] + frac[:, None] * (target_mean - cells.root_pos[:n])
                + rng.normal(0.0, 3.0, (n, 3)))
    _, _, j_node, _ = cables(cells.root_pos[:n], junction, np.arange(n), made.n, rng,
                             emit=part(None, NEURITE))

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
        cables(junction[ex], exit_pt[ex], j_node[ex], made.n, rng, emit=part(ex, NEURITE))

    # cables from J to the rim of every arbor, then the arbors
    jpos = junction[a_ent]
    d = jpos - a_center
    q = np.linalg.norm(d / a_radii, axis=1)
    rim = a_center + d * np.minimum(1.0, 0.75 / np.maximum(q, 1e-9))[:, None]
    _, _, last, _ = cables(jpos, rim, j_node[a_ent], made.n, rng, emit=part(a_ent, NEURITE))
    # every arbor node's cell and compartment taken in the bytes they are kept in
    arbor_ent, arbor_comp = a_ent.astype(node_index_dtype(e_all)), a_comp.astype(np.int8)
    first_arbor_node = made.n
    grow_arbors(last, rim, a_center, a_radii, a_target, made.n, rng,
                emit=lambda p, par, arb: add(p, par, arbor_ent[arb], arbor_comp[arb]))
    n_arbor_nodes = made.n - first_arbor_node

    # fragments: small twigs next to the arbors of other cells
    if n_frag:
        arbor_pos = made.positions(
            first_arbor_node + rng.integers(0, n_arbor_nodes, n_frag)).astype(np.float64)
        vol = np.array(anatomy.VOLUME_UM)
        fpos = np.clip(arbor_pos + rng.normal(0.0, 2.0, (n_frag, 3)), 1.0, vol - 1.0)
        fcomp = np.where(rng.random(n_frag) < 0.5, DENDRITE, AXON)
        fent = np.arange(n, e_all)
        add(fpos, np.full(n_frag, -1), fent, fcomp)
        next_node = made.n
        fp, fpar, farb = grow_arbors(
            np.arange(next_node - n_frag, next_node), fpos,
            fpos + rng.normal(0.0, 2.0, (n_frag, 3)), rng.uniform(2.5, 5.0, (n_frag, 1))
            * np.ones(3), rng.integers(4, 25, n_frag), next_node, rng)
        add(fp, fpar, fent[farb], fcomp[farb])

    return made.assemble(cells, e_all)
