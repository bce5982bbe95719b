"""A deterministic, realistic demo connectome in the snapshot format.

:func:`build_demo_tables` draws a made-up ant central brain (see
:mod:`napari_crant.demo.anatomy`) and returns it as
:class:`~napari_crant.snapshot.SnapshotTables`; :func:`make_demo` also writes it.

How the data come about:

1. Neurons of a few dozen cell types (left/right homologues) get a soma in their type's
   cluster, a primary neurite to a branch point and cables to arbors in the type's input
   (dendrite) and output (axon) neuropils. Arbors are random-walk branching trees
   (:mod:`napari_crant.demo.arbors`) that fill a zone (glomerulus, compartment) of the
   neuropil, so neurons sharing a zone overlap strongly. A few percent of small orphan
   fragments without soma are added.
2. Wherever an axon node lies near another cell's dendrite node (``scipy`` k-d tree; a
   share of axon nodes are also postsynaptic and of dendrite nodes presynaptic, as in
   insect neuropil) the pair is a *contact*; every contact carries one or more synapses,
   more for cell-type pairs and neuron pairs with a strong (log-normal) affinity, so
   partner weights are heavy-tailed. Synapse positions are integer voxels: pre- and
   postsynaptic points some 30-90 nm apart with the centre point between them.
3. Arbor nodes are grouped into level-2 (L2) chunks per chunk-grid cell, each L2 chunk gets
   a few supervoxels; IDs are encoded like the PyChunkedGraph's (layer, chunk, counter).
4. Proofreading history: some neurons start broken into pieces, some falsely merged with
   parts of others; merges and splits over ~15 months fix them (plus a few wrong merges
   that get reverted). Materialization versions fall between the edits, and some edits
   come after the newest version.
5. Annotations (CRANTb fields) are made at a per-neuron time, so some root IDs in them are
   outdated; a few synapse anomalies are planted for quality-control workflows and listed in
   ``info["planted_anomalies"]``.

Nothing depends on the wall clock or on hash order: the same ``seed`` gives the same tables.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from napari_crant.demo import anatomy
from napari_crant.demo.arbors import cables, grow_arbors, subtree_mask
from napari_crant.snapshot import SnapshotTables, write_snapshot
from napari_crant.snapshot.format import ANNOTATION_FIELDS

#: A small variant that builds in a second or two, for tests.
TINY_NEURONS = 40
#: Default number of synapses drawn per neuron (pre and post side counted once).
DEFAULT_SYNAPSES_PER_NEURON = 300.0
#: A well-connected, proofread, never-edited neuron of the default demo (``n_neurons=1000,
#: seed=0``): a uniglomerular olfactory projection neuron (``uPN_G09``, right), to show first.
DEMO_NEURON = 576460753003437681

VOXEL_RESOLUTION = (8, 8, 42)
#: Size of an L1/L2 chunk of the chunk grid, in voxels (~3 x 3 x 3.4 um).
CHUNK_VOXELS = (384, 384, 80)
CHUNK_NM = np.array([c * r for c, r in zip(CHUNK_VOXELS, VOXEL_RESOLUTION, strict=True)],
                    dtype=np.float64)

#: Timeline (UTC). Initial roots appear at ``START``; edits run until ``EDITS_END``.
START = "2025-06-01T00:00:00"
EDITS_END = "2026-08-31T00:00:00"
#: (version, timestamp, valid) of the materializations.
VERSIONS = (
    (1, "2025-07-01T05:00:00", False),
    (2, "2025-10-01T05:00:00", True),
    (3, "2026-01-15T05:00:00", True),
    (4, "2026-04-15T05:00:00", True),
)

_LAYER_SHIFT = 56
_ROOT_LAYER = 8
_US_PER_DAY = 86_400_000_000

_PROOFREADERS = ("akane", "bruno_k", "chiara.m", "dmitri", "esi_a", "farid", "greta_l",
                 "hoang", "ines.r", "jomo")
_NOTES = (
    "axon leaves volume, truncated", "soma damaged in EM", "check merge near calyx",
    "twin of contralateral cell looks different", "dendrite partially in dark region",
    "possible split needed at primary neurite", "matched to fly homologue by morphology",
    "arbor crosses missing section",
)
_FRAGMENT_NOTES = ("orphan, main cell not found", "orphan fragment, ignore",
                   "fragment near missing section")


def _stage_rng(seed: int, stage: int) -> np.random.Generator:
    """An independent generator per stage, so stages can change without disturbing others."""
    return np.random.default_rng([int(seed), stage])


def _us(ts: str) -> int:
    return int(np.datetime64(ts, "us").astype(np.int64))


def _to_utc(us: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """int64 microseconds -> UTC timestamps (``NaT`` where ``missing``)."""
    t = np.asarray(us, dtype=np.int64).astype("datetime64[us]")
    if missing is not None:
        t[missing] = np.datetime64("NaT")
    return pd.Series(t).dt.tz_localize("UTC")


def _pcg_ids(layer: int, chunk: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """PyChunkedGraph-style IDs: ``layer << 56 | x << 46 | y << 36 | z << 26 | counter``."""
    c = chunk.astype(np.uint64)
    return ((np.uint64(layer) << np.uint64(_LAYER_SHIFT))
            | (c[:, 0] << np.uint64(46)) | (c[:, 1] << np.uint64(36))
            | (c[:, 2] << np.uint64(26)) | counter.astype(np.uint64))


def _splitmix(x: np.ndarray) -> np.ndarray:
    """A vectorised 64-bit mixing hash (splitmix64 finaliser)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash_normal(key: np.ndarray, salt: int) -> np.ndarray:
    """Standard normal numbers that depend only on ``key`` (and ``salt``)."""
    h1 = _splitmix(key ^ np.uint64(salt))
    h2 = _splitmix(h1)
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = ((h2 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _dense_ranks(x: np.ndarray) -> np.ndarray:
    """Replace values by their rank among the distinct values (``np.unique`` inverse)."""
    order = np.argsort(x, kind="stable")
    sx = x[order]
    first = np.ones(len(sx), dtype=bool)
    first[1:] = sx[1:] != sx[:-1]
    out = np.empty(len(x), dtype=np.int64)
    out[order] = np.cumsum(first) - 1
    return out


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    raw = weights / weights.sum() * total
    out = np.floor(raw).astype(np.int64)
    short = total - int(out.sum())
    order = np.argsort(-(raw - out), kind="stable")
    out[order[:short]] += 1
    return out


# ----------------------------------------------------------------------------- anatomy


@dataclass
class _Neuropils:
    names: list[str]
    center: np.ndarray  # (k, 3) um
    half: np.ndarray  # (k, 3) um
    zones: dict[str, np.ndarray]  # name -> (Z, 3) zone centres, um
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {n: i for i, n in enumerate(self.names)}


def _neuropils(rng: np.random.Generator) -> _Neuropils:
    names, center, half, zones = [], [], [], {}
    for base, (c, h) in anatomy.PAIRED_NEUROPILS.items():
        c, h = np.array(c), np.array(h)
        z = c + rng.uniform(-0.6, 0.6, (anatomy.ZONES[base], 3)) * h
        for side in "LR":
            zc, cc = z.copy(), c.copy()
            if side == "R":
                zc[:, 0] = anatomy.mirror_x(zc[:, 0])
                cc[0] = anatomy.mirror_x(cc[0])
            names.append(f"{base}_{side}")
            center.append(cc)
            half.append(h)
            zones[f"{base}_{side}"] = zc
    for base, (c, h) in anatomy.CENTRAL_NEUROPILS.items():
        c, h = np.array(c), np.array(h)
        names.append(base)
        center.append(c)
        half.append(h)
        zones[base] = c + rng.uniform(-0.6, 0.6, (anatomy.ZONES[base], 3)) * h
    return _Neuropils(names, np.array(center), np.array(half), zones)


def _resolve(ref: str, side: int) -> str:
    """Neuropil reference of a cell type (``"AL"``, ``"AL*"``, ``"FB"``) -> neuropil name."""
    base = ref.rstrip("*")
    if base in anatomy.CENTRAL_NEUROPILS:
        return base
    s = 0 if side == 2 else side
    if ref.endswith("*"):
        s = 1 - s
    return f"{base}_{'LR'[s]}"


@dataclass
class _Cells:
    """Per-entity attributes: neurons ``0..n-1`` then fragments."""

    n_neurons: int
    ctype: np.ndarray  # cell type index; len(CELL_TYPES) for fragments
    side: np.ndarray  # 0 left, 1 right, 2 centre
    glom: np.ndarray
    subtype: np.ndarray
    root_pos: np.ndarray  # (E, 3) um: soma, or entry point of the axon
    has_soma: np.ndarray
    soma_r: np.ndarray  # um
    trunk_r: np.ndarray
    twig_r: np.ndarray


def _population(n_neurons: int, n_fragments: int, rng: np.random.Generator) -> _Cells:
    types = anatomy.CELL_TYPES
    inst_type, inst_side, inst_w = [], [], []
    for i, t in enumerate(types):
        for s in ((0, 1) if t.paired else (2,)):
            inst_type.append(i)
            inst_side.append(s)
            inst_w.append(t.weight / (2 if t.paired else 1))
    counts = _largest_remainder(np.array(inst_w), n_neurons)
    ctype = np.repeat(np.array(inst_type), counts)
    side = np.repeat(np.array(inst_side), counts)
    n = n_neurons
    glom = rng.integers(0, anatomy.ZONES["AL"], n)
    n_sub = np.array([t.n_subtypes for t in types])[ctype]
    subtype = np.where(n_sub > 0, rng.integers(0, np.maximum(n_sub, 1)), -1)
    glomerular = np.array([t.glomerular for t in types])[ctype]
    subtype[glomerular] = glom[glomerular]

    root = np.zeros((n, 3))
    has_soma = np.zeros(n, dtype=bool)
    for i, t in enumerate(types):
        for s in (0, 1, 2):
            m = (ctype == i) & (side == s)
            if not m.any():
                continue
            anchor = np.array(t.soma if t.soma is not None else t.entry, dtype=float)
            if s == 1:
                anchor[0] = anatomy.mirror_x(anchor[0])
            spread = np.array([5.0, 5.0, 3.0]) if t.soma is not None else np.array([2.0] * 3)
            root[m] = anchor + rng.normal(0.0, 1.0, (int(m.sum()), 3)) * spread
            has_soma[m] = t.soma is not None
    frag = np.zeros((n_fragments, 3))
    vol = np.array(anatomy.VOLUME_UM)
    root = np.clip(np.concatenate([root, frag]), 1.0, vol - 1.0)
    e = n + n_fragments
    is_kc = np.zeros(e, dtype=bool)
    is_kc[:n] = np.array([t.cell_class == "kenyon_cell" for t in types])[ctype]
    soma_r = np.where(is_kc, rng.uniform(1.3, 1.7, e), rng.uniform(1.8, 2.8, e))
    trunk_r = np.where(is_kc, rng.uniform(0.12, 0.18, e), rng.uniform(0.3, 0.6, e))
    twig_r = np.where(is_kc, rng.uniform(0.08, 0.12, e), rng.uniform(0.1, 0.25, e))
    return _Cells(
        n_neurons=n,
        ctype=np.concatenate([ctype, np.full(n_fragments, len(types))]),
        side=np.concatenate([side, np.zeros(n_fragments, dtype=np.int64)]),
        glom=np.concatenate([glom, np.zeros(n_fragments, dtype=np.int64)]),
        subtype=np.concatenate([subtype, np.full(n_fragments, -1)]),
        root_pos=root,
        has_soma=np.concatenate([has_soma, np.zeros(n_fragments, dtype=bool)]),
        soma_r=soma_r, trunk_r=trunk_r, twig_r=twig_r,
    )


# ----------------------------------------------------------------------------- morphology

SOMA, NEURITE, DENDRITE, AXON = 0, 1, 2, 3


@dataclass
class _Nodes:
    """All skeleton nodes, grouped by entity, parents before children."""

    pos: np.ndarray  # (N, 3) float32 um
    parent: np.ndarray  # (N,) int64, global index, -1 for roots
    entity: np.ndarray  # (N,) int64
    comp: np.ndarray  # (N,) int8
    radius: np.ndarray  # (N,) float32 um
    start: np.ndarray  # (E + 1,) first node of every entity


def _morphology(cells: _Cells, nps: _Neuropils, zone_scale: float,
                rng: np.random.Generator) -> _Nodes:
    """Skeletons of all neurons and fragments (see the module docstring)."""
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
                    name = _resolve(ref, s)
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
        pos_parts.append(p.astype(np.float32))
        par_parts.append(par)
        ent_parts.append(ent)
        comp_parts.append(comp.astype(np.int8))

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
    add(p, par, a_ent[arb], a_comp[arb])
    next_node += len(p)

    # fragments: small twigs next to the arbors of other cells
    if n_frag:
        arbor_pos = p[rng.integers(0, len(p), n_frag)].astype(np.float64)
        vol = np.array(anatomy.VOLUME_UM)
        fpos = np.clip(arbor_pos + rng.normal(0.0, 2.0, (n_frag, 3)), 1.0, vol - 1.0)
        cells.root_pos[n:] = fpos
        fcomp = np.where(rng.random(n_frag) < 0.5, DENDRITE, AXON)
        fent = np.arange(n, e_all)
        add(fpos, np.full(n_frag, -1), fent, fcomp)
        fp, fpar, farb = grow_arbors(
            np.arange(next_node, next_node + n_frag), fpos,
            fpos + rng.normal(0.0, 2.0, (n_frag, 3)), rng.uniform(2.5, 5.0, (n_frag, 1))
            * np.ones(3), rng.integers(4, 25, n_frag), next_node + n_frag, rng)
        add(fp, fpar, fent[farb], fcomp[farb])

    vol = np.array(anatomy.VOLUME_UM, dtype=np.float32)
    pos = np.clip(np.concatenate(pos_parts), 0.05, vol - 0.05)
    parent = np.concatenate(par_parts)
    entity = np.concatenate(ent_parts)
    comp = np.concatenate(comp_parts)
    pos_parts.clear(), par_parts.clear(), ent_parts.clear(), comp_parts.clear()

    order = np.argsort(entity, kind="stable")
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    pos, entity, comp, parent = pos[order], entity[order], comp[order], parent[order]
    parent = np.where(parent >= 0, inv[np.maximum(parent, 0)], -1)
    start = np.searchsorted(entity, np.arange(e_all + 1))

    radius = np.where(comp == SOMA, cells.soma_r[entity],
                      np.where(comp == NEURITE, cells.trunk_r[entity], cells.twig_r[entity]))
    return _Nodes(pos=pos, parent=parent, entity=entity, comp=comp,
                  radius=radius.astype(np.float32), start=start)


# ----------------------------------------------------------------------------- contacts


def _contacts(nodes: _Nodes, radius: float, rng: np.random.Generator,
              chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """(presynaptic node, postsynaptic node) pairs of different cells closer than ``radius``.

    Axon nodes are presynaptic and dendrite nodes postsynaptic, and a share of each is
    also the other (axo-axonic and dendro-dendritic synapses, as in insect neuropil). Every
    presynaptic node contacts a few cells at most, once each, through their nearest node.
    """
    u = rng.random(len(nodes.comp))
    pre_idx = np.flatnonzero((nodes.comp == AXON) | ((nodes.comp == DENDRITE) & (u < 0.1)))
    post_idx = np.flatnonzero((nodes.comp == DENDRITE) | ((nodes.comp == AXON) & (u < 0.3)))
    del u
    if len(pre_idx) == 0 or len(post_idx) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tree = cKDTree(nodes.pos[post_idx].astype(np.float64), leafsize=32, balanced_tree=False)
    k = 8
    out_a, out_d = [], []
    for s in range(0, len(pre_idx), chunk):
        a = pre_idx[s:s + chunk]
        dist, j = tree.query(nodes.pos[a].astype(np.float64), k=k, distance_upper_bound=radius,
                             workers=-1)
        ok = np.isfinite(dist)
        d_node = post_idx[np.where(ok, j, 0)]
        d_ent = np.where(ok, nodes.entity[d_node], -1)
        ok &= d_ent != nodes.entity[a][:, None]
        for c in range(1, k):  # keep only the nearest node of every partner cell
            for b in range(c):
                ok[:, c] &= d_ent[:, c] != d_ent[:, b]
        rows, cols = np.nonzero(ok)
        out_a.append(a[rows])
        out_d.append(d_node[rows, cols])
    del tree
    return np.concatenate(out_a), np.concatenate(out_d)


# ----------------------------------------------------------------------------- edits


@dataclass
class _Scenario:
    kind: str
    neurons: list[int]
    initial: list[list[tuple[int, int]]]  # groups (entity, piece) forming one initial root
    ops: list[tuple]  # ("merge", g1, g2) | ("split", [groups to separate])
    false_edges: list[tuple[int, int]]  # node pairs that become L2 contacts
    times: list[int] = field(default_factory=list)


_SCENARIO_KINDS = ("broken", "broken2", "false_piece", "false_whole", "bad_merge")
_SCENARIO_P = (0.3, 0.15, 0.25, 0.15, 0.15)


def _plan_edits(nodes: _Nodes, cells: _Cells, ca: np.ndarray, cd: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, list[_Scenario]]:
    """Choose the segmentation errors and the edits that fix them.

    Returns the piece label of every node (0: main body) and the scenarios.
    """
    n = cells.n_neurons
    piece = np.zeros(len(nodes.entity), dtype=np.int8)
    used = np.zeros(len(cells.ctype), dtype=bool)
    n_scen = max(6, round(0.05 * n))
    kinds = rng.choice(len(_SCENARIO_KINDS), n_scen, p=_SCENARIO_P)
    kinds[:5] = rng.permutation(5)  # each kind at least once
    ent_a, ent_d = nodes.entity[ca], nodes.entity[cd]
    nn_contacts = np.flatnonzero((ent_a < n) & (ent_d < n))
    nf_contacts = np.flatnonzero((ent_a < n) != (ent_d < n))
    scenarios: list[_Scenario] = []

    def cut(e: int, label: int, at: int | None = None) -> bool:
        s0, s1 = nodes.start[e], nodes.start[e + 1]
        par = nodes.parent[s0:s1] - s0
        par[par < 0] = -1
        size = s1 - s0
        for _ in range(25):
            if at is None:
                cand = np.flatnonzero(nodes.comp[s0 + 1:s1] >= NEURITE) + 1
                if len(cand) == 0:
                    return False
                v = int(rng.choice(cand))
            else:
                v = at - s0
            m = subtree_mask(par, v)
            ok = (3 <= m.sum() <= 0.5 * size and m.sum() >= 0.04 * size
                  and not piece[s0:s1][m].any())
            if ok:
                piece[s0:s1][m] = label
                return True
            if at is not None:
                return False
        return False

    def ancestor(node: int, steps: int) -> int:
        for _ in range(steps):
            p = nodes.parent[node]
            if p < 0 or nodes.comp[p] not in (DENDRITE, AXON):
                break
            node = int(p)
        return node

    def free_neuron() -> int | None:
        for _ in range(50):
            e = int(rng.integers(0, n))
            if not used[e]:
                return e
        return None

    def free_contact(pool: np.ndarray) -> tuple[int, int] | None:
        for _ in range(50):
            if len(pool) == 0:
                return None
            c = int(rng.choice(pool))
            a, d = int(ca[c]), int(cd[c])
            if not used[nodes.entity[a]] and not used[nodes.entity[d]]:
                return (a, d) if rng.random() < 0.5 else (d, a)
        return None

    for kind_i in kinds:
        kind = _SCENARIO_KINDS[kind_i]
        if kind in ("broken", "broken2"):
            e = free_neuron()
            if e is None or not cut(e, 1):
                continue
            ops = [("merge", (e, 0), (e, 1))]
            if kind == "broken2" and cut(e, 2):
                ops.append(("merge", (e, 0), (e, 2)))
            used[e] = True
            scenarios.append(_Scenario(kind, [e], [], ops, []))
        elif kind == "false_piece":
            pair = free_contact(nn_contacts)
            if pair is None:
                continue
            x, y = pair  # node x of neuron A touches node y of neuron B
            a, b = int(nodes.entity[x]), int(nodes.entity[y])
            steps = int(rng.integers(2, 9))
            if not any(cut(b, 1, at=ancestor(y, steps + extra)) for extra in (0, 4, 10, 25)):
                continue
            used[[a, b]] = True
            scenarios.append(_Scenario(kind, [a, b], [[(a, 0), (b, 1)]],
                                       [("split", [(b, 1)]), ("merge", (b, 0), (b, 1))],
                                       [(x, y)]))
        elif kind == "false_whole":
            pair = free_contact(nn_contacts)
            if pair is None:
                continue
            x, y = pair
            a, b = int(nodes.entity[x]), int(nodes.entity[y])
            used[[a, b]] = True
            scenarios.append(_Scenario(kind, [a, b], [[(a, 0), (b, 0)]],
                                       [("split", [(b, 0)])], [(x, y)]))
        else:  # a fragment merged into a neuron by mistake, then split off again
            pair = free_contact(nf_contacts)
            if pair is None:
                continue
            x, y = pair
            a, f = int(nodes.entity[x]), int(nodes.entity[y])
            if a >= n:
                a, f, x, y = f, a, y, x
            used[[a, f]] = True
            scenarios.append(_Scenario(kind, [a], [],
                                       [("merge", (a, 0), (f, 0)), ("split", [(f, 0)])],
                                       [(x, y)]))
    return piece, scenarios


def _schedule(scenarios: list[_Scenario], rng: np.random.Generator) -> None:
    """Give every operation a time; make sure every interval between versions has edits."""
    t0 = _us(START) + _US_PER_DAY
    bounds = [t0] + [_us(v[1]) for v in VERSIONS] + [_us(EDITS_END)]
    windows = list(itertools.pairwise(bounds))[::-1]  # newest first
    order = rng.permutation(len(scenarios))
    for rank, i in enumerate(order):
        sc = scenarios[i]
        lo, hi = windows[rank] if rank < len(windows) else (bounds[0], bounds[-1])
        times = np.sort(rng.integers(lo, hi, len(sc.ops)))
        if rank == 0 and len(sc.ops) > 1:
            # after the newest version: its earlier edits come before, only the last one after
            times[:-1] = np.sort(rng.integers(bounds[0], lo, len(sc.ops) - 1))
        sc.times = [int(t) for t in times]


@dataclass
class _History:
    root_id: np.ndarray  # (R,) uint64
    created: np.ndarray  # (R,) int64 us
    expired: np.ndarray  # (R,) int64 us, -1 = never
    operation_id: np.ndarray  # (R,) int64
    root_of_l2: np.ndarray  # (L,) initial root index of every L2
    extra_root: np.ndarray  # root index of extra root_l2 rows
    extra_l2: np.ndarray  # L2 index of extra root_l2 rows
    lineage: pd.DataFrame
    group_history: dict[int, list[tuple[int, int]]]  # group -> [(time, root index)]
    init_root_of_group: np.ndarray


def _history(scenarios: list[_Scenario], group_key: np.ndarray, l2_group: np.ndarray,
             rng: np.random.Generator) -> _History:
    """Replay the edits: roots, lineage and root -> L2 membership."""
    n_groups = len(group_key)

    def gidx(g: tuple[int, int]) -> int:
        key = g[0] * 4 + g[1]
        i = int(np.searchsorted(group_key, key))
        if i >= n_groups or group_key[i] != key:
            raise KeyError(g)
        return i

    init = np.arange(n_groups)
    for sc in scenarios:
        for members in sc.initial:
            ids = [gidx(g) for g in members]
            init[ids[1:]] = init[ids[0]]
    init = _dense_ranks(init)
    n_init = int(init.max()) + 1 if n_groups else 0

    members_of: dict[int, list[int]] = {}

    def members(r: int) -> list[int]:
        if r not in members_of:
            members_of[r] = np.flatnonzero(init == r).tolist()
        return members_of[r]

    ops = sorted(((t, k, op) for k, sc in enumerate(scenarios)
                  for t, op in zip(sc.times, sc.ops, strict=True)), key=lambda x: (x[0], x[1]))
    cur = init.copy()
    created = [_us(START)] * n_init
    expired = [-1] * n_init
    op_of = [0] * n_init
    lineage = []
    group_history: dict[int, list[tuple[int, int]]] = {}
    op_id = int(rng.integers(120, 400))
    for t, _, op in ops:
        op_id += int(rng.integers(1, 30))
        if op[0] == "merge":
            g1, g2 = gidx(op[1]), gidx(op[2])
            r1, r2 = int(cur[g1]), int(cur[g2])
            parents = [r1, r2]
            children = [sorted(members(r1) + members(r2))]
        else:
            sep = sorted(gidx(g) for g in op[1])
            r = int(cur[sep[0]])
            rest = [g for g in members(r) if g not in sep]
            parents = [r]
            children = [rest, sep]
        for r in parents:
            expired[r] = t
        for groups in children:
            r = len(created)
            created.append(t)
            expired.append(-1)
            op_of.append(op_id)
            members_of[r] = groups
            cur[groups] = r
            for g in groups:
                group_history.setdefault(g, []).append((t, r))
            for p in parents:
                lineage.append((op_id, t, op[0], p, r))

    n_roots = len(created)
    # root IDs: initial ones in random order with gaps, later ones increasing with time
    counter = np.empty(n_roots, dtype=np.int64)
    perm = rng.permutation(n_init)
    counter[perm] = 700_000_000 + np.cumsum(rng.integers(1, 200, n_init))
    nxt = int(counter[:n_init].max()) if n_init else 700_000_000
    counter[n_init:] = nxt + np.cumsum(rng.integers(1_000, 50_000, n_roots - n_init))
    root_id = (np.uint64(_ROOT_LAYER) << np.uint64(_LAYER_SHIFT)) | counter.astype(np.uint64)

    # root_l2 rows of the roots made by edits
    by_group = np.argsort(l2_group, kind="stable")
    gstart = np.searchsorted(l2_group[by_group], np.arange(n_groups + 1))
    extra_root, extra_l2 = [], []
    for r in range(n_init, n_roots):
        for g in members_of[r]:
            ls = by_group[gstart[g]:gstart[g + 1]]
            extra_l2.append(ls)
            extra_root.append(np.full(len(ls), r))
    lin = pd.DataFrame(lineage, columns=["operation_id", "t", "kind", "p", "c"])
    lineage_df = pd.DataFrame({
        "operation_id": lin["operation_id"].to_numpy(np.int64),
        "timestamp": _to_utc(lin["t"].to_numpy(np.int64)),
        "kind": lin["kind"].astype(object),
        "parent_root_id": root_id[lin["p"].to_numpy(np.int64)],
        "child_root_id": root_id[lin["c"].to_numpy(np.int64)],
    })
    cat = np.concatenate
    return _History(
        root_id=root_id, created=np.array(created, np.int64),
        expired=np.array(expired, np.int64), operation_id=np.array(op_of, np.int64),
        root_of_l2=init[l2_group],
        extra_root=cat(extra_root) if extra_root else np.zeros(0, np.int64),
        extra_l2=cat(extra_l2) if extra_l2 else np.zeros(0, np.int64),
        lineage=lineage_df, group_history=group_history, init_root_of_group=init,
    )


def _root_at(hist: _History, g: int, t: int) -> int:
    r = int(hist.init_root_of_group[g])
    for tc, rc in hist.group_history.get(g, []):
        if tc <= t:
            r = rc
    return r


# ----------------------------------------------------------------------------- L2 chunks


@dataclass
class _Chunks:
    l2_of_node: np.ndarray  # (N,) L2 index
    l2_id: np.ndarray  # (L,) uint64
    l2_group: np.ndarray  # (L,) group index
    group_key: np.ndarray  # (G,) entity * 4 + piece, sorted
    table: pd.DataFrame  # the l2 table
    sv_start: np.ndarray  # (L + 1,) first supervoxel of every L2
    sv_id: np.ndarray  # (S,) uint64
    sv_l2: np.ndarray  # (S,) L2 index


def _runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Boolean mask of the first element of every run of equal values."""
    first = np.empty(len(sorted_keys), dtype=bool)
    first[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    return first


def _rank_in_run(first: np.ndarray) -> np.ndarray:
    """Position of every element within its run (runs start where ``first``)."""
    idx = np.arange(len(first), dtype=np.int64)
    return idx - np.maximum.accumulate(np.where(first, idx, 0))


def _chunks(nodes: _Nodes, piece: np.ndarray, rng: np.random.Generator) -> _Chunks:
    """Group nodes into L2 chunks (cell x piece x chunk-grid cell); supervoxels; IDs."""
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
    skey = key[order]
    del key
    first = _runs(skey)
    starts = np.flatnonzero(first)
    l2_key = skey[starts]
    del skey
    n_l2 = len(starts)
    l2_of_node = np.empty(n_nodes, dtype=np.int64)
    l2_of_node[order] = np.cumsum(first) - 1
    del first
    counts = np.diff(np.append(starts, n_nodes))
    l2_ckey = l2_key & ((1 << 30) - 1)
    l2_gkey = l2_key >> 30
    del l2_key
    gfirst = _runs(l2_gkey)
    group_key = l2_gkey[gfirst]
    l2_group = np.cumsum(gfirst) - 1
    del gfirst, l2_gkey
    chunk = np.stack([l2_ckey >> 20, (l2_ckey >> 10) & 1023, l2_ckey & 1023], axis=1)
    prefix = _pcg_ids(0, chunk, np.zeros(n_l2, dtype=np.uint64))  # chunk bits only
    del chunk

    # counters within each chunk, after a per-chunk offset (other objects in the chunk)
    by_chunk = np.argsort(l2_ckey, kind="stable")
    cfirst = _runs(l2_ckey[by_chunk])
    rank = np.empty(n_l2, dtype=np.int64)
    rank[by_chunk] = _rank_in_run(cfirst)
    offset = (_splitmix(l2_ckey.astype(np.uint64) ^ np.uint64(rng.integers(1 << 62)))
              % np.uint64(400)).astype(np.int64)
    counter = 1 + offset + 3 * rank + rng.integers(0, 3, n_l2)
    l2_id = prefix | (np.uint64(2) << np.uint64(_LAYER_SHIFT)) | counter.astype(np.uint64)
    del rank, counter

    # representative point (the middle node, in growth order), radius and volume
    rep = order[starts + counts // 2]
    max_dt = np.maximum.reduceat(nodes.radius[order], starts).astype(np.float64) * 1000.0
    seg = np.linalg.norm(nodes.pos - nodes.pos[np.maximum(nodes.parent, 0)], axis=1)
    seg[nodes.parent < 0] = 0.0
    r = nodes.radius
    soma = nodes.comp == SOMA
    vol = np.where(soma, np.float32(4.0 / 3.0 * np.pi) * r**3,
                   np.float32(np.pi) * r**2 * np.maximum(seg, np.float32(0.3)))
    del seg
    size_nm3 = np.add.reduceat(vol[order].astype(np.float64), starts) * 1e9
    has_soma = np.maximum.reduceat(soma[order], starts)
    del vol, soma, order
    rep_nm = nodes.pos[rep].astype(np.float64) * 1000.0 + rng.normal(0.0, 60.0, (n_l2, 3))
    table = pd.DataFrame({
        "l2_id": l2_id,
        "x": np.round(rep_nm[:, 0], 1), "y": np.round(rep_nm[:, 1], 1),
        "z": np.round(rep_nm[:, 2], 1),
        "max_dt_nm": np.round(max_dt * rng.uniform(0.85, 1.0, n_l2), 1),
        "size_nm3": np.round(size_nm3 * rng.uniform(0.9, 1.1, n_l2)),
    })
    del rep_nm, max_dt, size_nm3

    # supervoxels: a few per L2 chunk, more in the soma, counted per chunk like the L2s
    n_sv = 1 + rng.poisson(1.3, n_l2) + 4 * has_soma.astype(np.int64)
    sv_start = np.concatenate([[0], np.cumsum(n_sv)])
    sorted_n = n_sv[by_chunk]
    before = np.cumsum(sorted_n) - sorted_n  # supervoxels before this L2, in chunk order
    chunk_base = np.empty(n_l2, dtype=np.int64)
    chunk_base[by_chunk] = before - before[np.maximum.accumulate(
        np.where(cfirst, np.arange(n_l2), 0))]
    del by_chunk, cfirst, sorted_n, before
    sv_l2 = np.repeat(np.arange(n_l2, dtype=np.int64), n_sv)
    local = np.arange(len(sv_l2), dtype=np.int64) - sv_start[sv_l2]
    counter = (1 + 5 * offset + 2 * chunk_base)[sv_l2] + 2 * local
    del local
    sv_id = prefix[sv_l2] | (np.uint64(1) << np.uint64(_LAYER_SHIFT))
    sv_id |= counter.astype(np.uint64)
    return _Chunks(l2_of_node=l2_of_node, l2_id=l2_id, l2_group=l2_group,
                   group_key=group_key, table=table, sv_start=sv_start, sv_id=sv_id,
                   sv_l2=sv_l2)


def _l2_edges(nodes: _Nodes, ch: _Chunks, extra: list[tuple[int, int]]) -> pd.DataFrame:
    child = np.flatnonzero(nodes.parent >= 0)
    a = ch.l2_of_node[child]
    b = ch.l2_of_node[nodes.parent[child]]
    if extra:
        ex = np.array(extra, dtype=np.int64)
        a = np.concatenate([a, ch.l2_of_node[ex[:, 0]]])
        b = np.concatenate([b, ch.l2_of_node[ex[:, 1]]])
    keep = a != b
    by_id = np.argsort(ch.l2_id)
    rank = np.empty_like(by_id)
    rank[by_id] = np.arange(len(by_id))
    ra, rb = rank[a[keep]], rank[b[keep]]
    key = np.sort((np.minimum(ra, rb) << 32) | np.maximum(ra, rb))
    key = key[_runs(key)]
    ids = ch.l2_id[by_id]
    return pd.DataFrame({"l2_a": ids[key >> 32], "l2_b": ids[key & 0xFFFFFFFF]})


# ----------------------------------------------------------------------------- synapses


def _pick_sv(ch: _Chunks, l2: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = ch.sv_start[l2 + 1] - ch.sv_start[l2]
    return ch.sv_id[ch.sv_start[l2] + (rng.random(len(l2)) * n).astype(np.int64)]


def _to_voxels(p_um: np.ndarray) -> np.ndarray:
    return np.round(p_um * 1000.0 / np.array(VOXEL_RESOLUTION, dtype=np.float64)).astype(
        np.int64)


_POS_COLS = [f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"]


def _synapse_rows(nodes: _Nodes, ch: _Chunks, a: np.ndarray, d: np.ndarray,
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
        "pre_pt_supervoxel_id": _pick_sv(ch, ch.l2_of_node[a], rng),
        "post_pt_supervoxel_id": _pick_sv(ch, ch.l2_of_node[d], rng),
        "size": np.maximum(1, np.round(rng.lognormal(np.log(220.0), 0.8, m))).astype(np.int64),
    }
    for name, p in (("pre", ctr + u * half), ("post", ctr - u * half), ("ctr", ctr)):
        v = _to_voxels(p)
        for i, ax in enumerate("xyz"):
            cols[f"{name}_pt_position_{ax}"] = v[:, i]
    return cols


def _synapses(nodes: _Nodes, cells: _Cells, ch: _Chunks, ca: np.ndarray, cd: np.ndarray,
              per_neuron: float, rng: np.random.Generator, seed: int,
              block: int = 1 << 21) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Turn contacts into synapses; returns columns and the (axon, dendrite) node per row."""
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
        w[s:s + block] = aff[ctype[ea], ctype[ed]] * np.exp(_hash_normal(pair_key, seed))
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
            for k in ("pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size", *_POS_COLS)}
    for s in range(0, total, block):
        part = _synapse_rows(nodes, ch, a[s:s + block], d[s:s + block], rng)
        for k, v in part.items():
            cols[k][s:s + block] = v
    return cols, a, d


def _anomalies(nodes: _Nodes, cells: _Cells, ch: _Chunks, cols: dict[str, np.ndarray],
               a: np.ndarray, d: np.ndarray, clean: np.ndarray,
               rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
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
            v = _to_voxels(p[None, :])[0]
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
        row["pre_pt_supervoxel_id"] = _pick_sv(ch, ch.l2_of_node[[w]], rng)
        row["post_pt_supervoxel_id"] = _pick_sv(ch, ch.l2_of_node[[v]], rng)
        u = rng.normal(0.0, 1.0, 3)
        u /= np.linalg.norm(u)
        place(row, nodes.pos[v].astype(np.float64) + rng.normal(0.0, 0.1, 3), u)
        add("autapse", row)
    extra = {key: np.concatenate([r[key] for r in rows]) if rows else
             np.zeros(0, dtype=v.dtype) for key, v in cols.items()}
    return extra, {kk: np.array(vv, dtype=np.int64) for kk, vv in kinds.items()}


# ----------------------------------------------------------------------------- annotations


def _annotations(cells: _Cells, nodes: _Nodes, ch: _Chunks, hist: _History,
                 scenarios: list[_Scenario], rng: np.random.Generator
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    types = anatomy.CELL_TYPES
    n = cells.n_neurons
    n_frag = len(cells.ctype) - n
    t_start, t_end = _us(START), _us(EDITS_END)
    last_version = _us(VERSIONS[-1][1])

    # annotation time per neuron: when the row was last written (= proofreading date)
    t_ann = rng.integers(t_start + 3 * _US_PER_DAY, t_end - _US_PER_DAY, n)
    for sc in scenarios:
        first, last = min(sc.times), max(sc.times)
        for e in sc.neurons:
            if last > last_version:  # annotated before a late edit: outdated root ID
                t_ann[e] = rng.integers(min(first, last_version) - 20 * _US_PER_DAY, last)
            elif rng.random() < 0.6:
                t_ann[e] = rng.integers(last, t_end)
            else:
                t_ann[e] = rng.integers(t_start + _US_PER_DAY, last)
    t_ann = np.maximum(t_ann, t_start + _US_PER_DAY)

    n_ann_frag = max(1, n_frag // 8) if n_frag else 0
    frag_ann = (n + rng.choice(n_frag, n_ann_frag, replace=False)) if n_frag else []
    ents = np.concatenate([np.arange(n), np.sort(np.asarray(frag_ann, dtype=np.int64))])
    t_all = np.concatenate([t_ann, rng.integers(t_start + _US_PER_DAY, t_end, len(ents) - n)])

    # stable supervoxel: first supervoxel of the L2 chunk of the root node (soma)
    root_node = nodes.start[ents]
    root_l2 = ch.l2_of_node[root_node]
    sv = ch.sv_id[ch.sv_start[root_l2]]
    group = np.searchsorted(ch.group_key, ents * 4)
    root_idx = np.array([_root_at(hist, int(g), int(t)) for g, t in zip(group, t_all,
                                                                         strict=True)])
    root_ids = hist.root_id[root_idx]

    # nuclei
    soma_ents = np.flatnonzero(cells.has_soma)
    nuc_id = np.zeros(len(cells.ctype), dtype=np.uint64)
    nuc_id[soma_ents] = (7_100_000 + np.cumsum(rng.integers(1, 60, len(soma_ents)))).astype(
        np.uint64)
    soma_nm = nodes.pos[nodes.start[soma_ents]].astype(np.float64) * 1000.0
    nuclei = pd.DataFrame({
        "nucleus_id": nuc_id[soma_ents],
        "supervoxel_id": ch.sv_id[ch.sv_start[ch.l2_of_node[nodes.start[soma_ents]]]],
        "x": np.round(soma_nm[:, 0]), "y": np.round(soma_nm[:, 1]),
        "z": np.round(soma_nm[:, 2]),
        "volume_um3": np.round(4 / 3 * np.pi * (0.7 * cells.soma_r[soma_ents]) ** 3
                               * rng.uniform(0.85, 1.15, len(soma_ents)), 2),
    })

    rec: dict[str, list] = {f: [] for f in ANNOTATION_FIELDS}
    pos_nm = nodes.pos[root_node].astype(np.float64) * 1000.0
    u = rng.random((len(ents), 8))
    for row, e in enumerate(ents):
        e = int(e)
        is_frag = e >= n
        side_code = (int(cells.side[e]) if not is_frag
                     else int(pos_nm[row, 0] > anatomy.MIDLINE_X * 1000))
        side = ("left", "right", "center")[side_code]
        rec["root_id"].append(root_ids[row])
        rec["supervoxel_id"].append(sv[row])
        rec["nucleus_id"].append(nuc_id[e])
        rec["side"].append(side)
        if is_frag:
            rec["proofread"].append(False)
            rec["status"].append(["TRACING_ISSUE"] if u[row, 0] < 0.5 else None)
            for f in ("region",):
                rec[f].append("central_brain")
            for f in ("nerve", "tract", "hemilineage", "flow", "super_class", "cell_class",
                      "cell_type", "cell_subtype", "cell_instance", "known_nt",
                      "alternative_names", "user_proofreader", "date_proofread"):
                rec[f].append(None)
            rec["annotator_notes"].append(_FRAGMENT_NOTES[int(u[row, 1] * len(_FRAGMENT_NOTES))])
            continue
        t = types[int(cells.ctype[e])]
        p_proof = 0.35 if t.cell_class in ("kenyon_cell", "olfactory_receptor_neuron") else 0.7
        proofread = bool(u[row, 0] < p_proof)
        named = proofread or u[row, 1] < 0.8
        if proofread:
            status = ["BACKBONE_PROOFREAD"] if u[row, 2] < 0.85 else ["BACKBONE_PROOFREAD",
                                                                       "DAMAGED"]
        else:
            status = (["PRELIM_PROOFREAD"] if u[row, 2] < 0.4
                      else ["TRACING_ISSUE"] if u[row, 2] < 0.5 else None)
        sub = int(cells.subtype[e])
        subtype = None
        if named and sub >= 0:
            subtype = (f"{t.name}_G{sub + 1:02d}" if t.glomerular
                       else f"{t.name}_{chr(ord('a') + sub)}")
        rec["proofread"].append(proofread)
        rec["status"].append(status)
        rec["region"].append(t.region)
        rec["nerve"].append(t.nerve)
        rec["tract"].append(t.tract)
        rec["hemilineage"].append(t.hemilineage if u[row, 3] < 0.75 else None)
        rec["flow"].append(t.flow)
        rec["super_class"].append(t.super_class)
        rec["cell_class"].append(t.cell_class)
        rec["cell_type"].append(t.name if named else None)
        rec["cell_subtype"].append(subtype)
        rec["cell_instance"].append(
            None if not named else t.name if side == "center" else f"{t.name}_{side[0].upper()}")
        rec["known_nt"].append(t.known_nt if u[row, 4] < 0.9 else None)
        rec["alternative_names"].append(list(t.alternative_names) if t.alternative_names
                                        and named else None)
        rec["annotator_notes"].append(_NOTES[int(u[row, 6] * len(_NOTES))]
                                      if u[row, 5] < 0.08 else None)
        if proofread:
            rec["user_proofreader"].append(_PROOFREADERS[int(u[row, 7] * len(_PROOFREADERS))])
            rec["date_proofread"].append(
                str(np.datetime64(int(t_all[row]), "us").astype("datetime64[D]")))
        else:
            rec["user_proofreader"].append(None)
            rec["date_proofread"].append(None)
    ann = pd.DataFrame({f: pd.Series(rec[f], dtype=object) for f in ANNOTATION_FIELDS})
    for f in ("root_id", "supervoxel_id", "nucleus_id"):
        ann[f] = ann[f].to_numpy(np.uint64)
    ann["proofread"] = ann["proofread"].astype(bool)
    ann["x"] = np.round(pos_nm[:, 0])
    ann["y"] = np.round(pos_nm[:, 1])
    ann["z"] = np.round(pos_nm[:, 2])
    return ann, nuclei


# ----------------------------------------------------------------------------- public API


def build_demo_tables(
    n_neurons: int = 1000,
    seed: int = 0,
    *,
    synapses_per_neuron: float = DEFAULT_SYNAPSES_PER_NEURON,
    validate: bool = True,
) -> SnapshotTables:
    """Draw a demo connectome: neurons, L2 chunks, synapses, edit history and annotations.

    Parameters
    ----------
    n_neurons
        Number of neurons (with or without soma in the volume). About 4% more small
        orphan fragments are added.
    seed
        Seed of the random generator; the same seed always gives the same tables.
    synapses_per_neuron
        Target number of synapses per neuron (the total is about ``n_neurons`` times this,
        give or take a few percent). Tiny datasets have fewer: a neuron pair never gets
        more than a handful of synapses per contact.
    validate
        Check the tables with :meth:`SnapshotTables.validate` before returning them
        (:func:`~napari_crant.snapshot.write_snapshot` checks them again anyway).

    Returns
    -------
    SnapshotTables
        The tables. ``info["planted_anomalies"]`` lists the synapse IDs planted for
        quality control, by kind.

    Examples
    --------
    >>> tables = build_demo_tables(TINY_NEURONS, seed=1)
    >>> len(tables.annotations) > TINY_NEURONS
    True
    """
    if n_neurons < 1:
        raise ValueError("n_neurons must be positive")
    n_frag = max(2, round(0.04 * n_neurons))
    nps = _neuropils(_stage_rng(seed, 1))
    cells = _population(n_neurons, n_frag, _stage_rng(seed, 2))
    zone_scale = float(np.clip(np.sqrt(n_neurons / 10_000), 0.3, 1.0))
    nodes = _morphology(cells, nps, zone_scale, _stage_rng(seed, 3))

    contact_r = float(np.clip((1000.0 / n_neurons) ** (1 / 3), 0.35, 1.2))
    ca, cd = _contacts(nodes, contact_r, _stage_rng(seed, 4))
    piece, scenarios = _plan_edits(nodes, cells, ca, cd, _stage_rng(seed, 5))
    _schedule(scenarios, _stage_rng(seed, 6))
    ch = _chunks(nodes, piece, _stage_rng(seed, 7))
    l2_edges = _l2_edges(nodes, ch, [e for sc in scenarios for e in sc.false_edges])
    hist = _history(scenarios, ch.group_key, ch.l2_group, _stage_rng(seed, 8))

    rng = _stage_rng(seed, 9)
    cols, sa, sd = _synapses(nodes, cells, ch, ca, cd, synapses_per_neuron, rng, seed)
    del ca, cd
    ent_a, ent_d = nodes.entity[sa], nodes.entity[sd]
    edited = np.zeros(len(cells.ctype), dtype=bool)
    for sc in scenarios:
        edited[sc.neurons] = True
        for op in sc.ops:
            for g in op[1:]:
                for e, _ in ([g] if isinstance(g, tuple) else g):
                    edited[e] = True
    clean = (ent_a < n_neurons) & (ent_d < n_neurons) & ~edited[ent_a] & ~edited[ent_d]
    extra, planted = _anomalies(nodes, cells, ch, cols, sa, sd, clean, rng)
    n_regular = len(sa)
    # unsegmented post-synaptic sites (not on planted rows)
    unseg = rng.random(n_regular) < 0.01
    cols["post_pt_supervoxel_id"][unseg] = 0
    on_frag = np.flatnonzero((ent_a >= n_neurons) | ((ent_d >= n_neurons) & ~unseg))
    planted["on_fragment"] = on_frag
    del ent_a, ent_d, sa, sd, clean, unseg
    for k in cols:
        cols[k] = np.concatenate([cols[k], extra[k]])
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
    for k in ("pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size", *_POS_COLS):
        synapses[k] = cols.pop(k)[order]
    anomalies = {k: [int(x) for x in np.sort(syn_id[v])] for k, v in planted.items()}
    del syn_id, order

    sv_table = pd.DataFrame({"sv_id": ch.sv_id, "l2_id": ch.l2_id[ch.sv_l2]})
    roots = pd.DataFrame({
        "root_id": hist.root_id,
        "created": _to_utc(hist.created),
        "expired": _to_utc(hist.expired, missing=hist.expired < 0),
        "operation_id": hist.operation_id,
    })
    root_l2 = pd.DataFrame({
        "root_id": hist.root_id[np.concatenate([hist.root_of_l2, hist.extra_root])],
        "l2_id": ch.l2_id[np.concatenate([np.arange(len(ch.l2_id)), hist.extra_l2])],
    })
    versions = pd.DataFrame({
        "version": np.array([v[0] for v in VERSIONS], dtype=np.int64),
        "timestamp": _to_utc(np.array([_us(v[1]) for v in VERSIONS], dtype=np.int64)),
        "valid": np.array([v[2] for v in VERSIONS], dtype=bool),
    })
    ann, nuclei = _annotations(cells, nodes, ch, hist, scenarios, _stage_rng(seed, 10))
    neuropils = pd.DataFrame({
        "name": pd.Series(nps.names, dtype=object),
        **{f"{ax}0": (nps.center[:, i] - nps.half[:, i]) * 1000.0 for i, ax in enumerate("xyz")},
        **{f"{ax}1": (nps.center[:, i] + nps.half[:, i]) * 1000.0 for i, ax in enumerate("xyz")},
    })[["name", "x0", "y0", "z0", "x1", "y1", "z1"]]

    info = {
        "name": "demo",
        "description": (
            f"Synthetic CRANTb-like ant central brain: {n_neurons} neurons of "
            f"{len(anatomy.CELL_TYPES)} cell types plus {n_frag} orphan fragments, "
            f"{total} synapses, {len(scenarios)} proofreading episodes "
            f"({hist.lineage['operation_id'].nunique()} edits). Made by "
            "napari_crant.demo; not real data."),
        "voxel_resolution": list(VOXEL_RESOLUTION),
        "synapse_table": "synapses_v2",
        "pcg_table": "demo_x1",
        "source": "demo",
        "seed": int(seed),
        "n_neurons": int(n_neurons),
        "n_fragments": int(n_frag),
        "synapses_per_neuron": float(synapses_per_neuron),
        "volume_nm": [v * 1000.0 for v in anatomy.VOLUME_UM],
        "chunk_size_voxels": list(CHUNK_VOXELS),
        "planted_anomalies": anomalies,
    }
    tables = SnapshotTables(
        info=info, versions=versions, roots=roots, root_l2=root_l2, l2=ch.table,
        supervoxels=sv_table, l2_edges=l2_edges, lineage=hist.lineage, synapses=synapses,
        annotations=ann, nuclei=nuclei, neuropils=neuropils,
    )
    return tables.validate() if validate else tables


def make_demo(
    out: str | os.PathLike,
    n_neurons: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
    *,
    synapses_per_neuron: float = DEFAULT_SYNAPSES_PER_NEURON,
) -> Path:
    """Build the demo tables and write them as a snapshot directory.

    Parameters
    ----------
    out
        Snapshot directory to create.
    n_neurons, seed, synapses_per_neuron
        See :func:`build_demo_tables`.
    overwrite
        Replace an existing directory at ``out``.

    Returns
    -------
    Path
        The snapshot directory.
    """
    out = Path(out)
    if out.exists() and not overwrite:  # fail before the work, not after
        raise FileExistsError(f"snapshot directory {out} exists already (pass overwrite=True)")
    tables = build_demo_tables(n_neurons, seed, synapses_per_neuron=synapses_per_neuron,
                               validate=False)
    return write_snapshot(tables, out, overwrite=overwrite)
