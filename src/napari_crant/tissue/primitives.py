"""Shapes the tissue is made of: tapered capsules, optionally cut by a plane.

Every piece of a cell is a *primitive*: a capsule from ``a`` to ``b`` with radius ``ra`` at
``a`` and ``rb`` at ``b`` (a sphere when ``a == b``), intersected with the half-space
``x . normal >= offset`` when ``normal`` is not zero. Its *depth* at a point is how far
inside the surface the point is (negative outside).

- neurites: every node-parent segment is cut in two halves, the half next to a node carries
  that node's supervoxel (so a node's position holds its own supervoxel);
- somata: spheres;
- synapses: a presynaptic bouton and a postsynaptic spine (spheres flattened where they face
  each other across the cleft, joined to their neurite by a stalk), and the cleft between
  them: a disc (``a`` its centre, ``normal`` its axis, ``ra`` its radius, ``offset`` its
  half thickness) that no other shape may enter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from napari_crant.tissue.geometry import SOMA, TissueGeometry
from napari_crant.tissue.noise import uniform3

NEURITE, SOMA_SPHERE, BOUTON, SPINE, STALK, NECK, CLEFT = 0, 1, 2, 3, 4, 5, 6
#: Gap between the cleft plane and the pre/post point (the point lies this far inside).
CLEFT_INSET_NM = 12.0
#: Radius of a spine's neck.
SPINE_NECK_NM = 45.0


@dataclass
class Primitives:
    """A table of primitives (see the module docstring)."""

    a: np.ndarray  # (P, 3) nm
    b: np.ndarray
    ra: np.ndarray  # (P,)
    rb: np.ndarray
    normal: np.ndarray  # (P, 3), zero: no cut
    offset: np.ndarray  # (P,)
    sv: np.ndarray  # (P,) uint64
    cell: np.ndarray  # (P,) int64
    kind: np.ndarray  # (P,) int8
    key: np.ndarray  # (P,) int64, stable identity for textures (node or synapse row)

    def __len__(self) -> int:
        return len(self.ra)

    @property
    def lo(self) -> np.ndarray:
        r = np.maximum(self.ra, self.rb)[:, None]
        return np.minimum(self.a, self.b) - r

    @property
    def hi(self) -> np.ndarray:
        r = np.maximum(self.ra, self.rb)[:, None]
        return np.maximum(self.a, self.b) + r

    def take(self, idx: np.ndarray) -> Primitives:
        return Primitives(**{k: v[idx] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list[Primitives]) -> Primitives:
        return Primitives(**{k: np.concatenate([getattr(p, k) for p in parts])
                             for k in Primitives.__dataclass_fields__})


def _empty() -> Primitives:
    z3 = np.zeros((0, 3))
    z = np.zeros(0)
    return Primitives(z3, z3, z, z, z3, z, np.zeros(0, np.uint64), np.zeros(0, np.int64),
                      np.zeros(0, np.int8), np.zeros(0, np.int64))


def neurite_primitives(geom: TissueGeometry) -> Primitives:
    """Half-segments of every node-parent pair, and a sphere per soma node."""
    child = np.flatnonzero(geom.node_parent >= 0)
    par = geom.node_parent[child]
    pos, rad = geom.node_pos, geom.node_radius
    soma = geom.node_compartment == SOMA
    r_child = rad[child]
    r_par = np.where(soma[par], r_child, rad[par])
    mid = 0.5 * (pos[child] + pos[par])
    r_mid = 0.5 * (r_child + r_par)
    cell = geom.node_cell
    halves_a = np.concatenate([pos[child], pos[par]])
    halves_b = np.concatenate([mid, mid])
    ra = np.concatenate([r_child, r_par])
    rb = np.concatenate([r_mid, r_mid])
    owner = np.concatenate([child, par])
    s_idx = np.flatnonzero(soma)
    m, k = len(owner), len(s_idx)
    return Primitives(
        a=np.concatenate([halves_a, pos[s_idx]]), b=np.concatenate([halves_b, pos[s_idx]]),
        ra=np.concatenate([ra, rad[s_idx]]), rb=np.concatenate([rb, rad[s_idx]]),
        normal=np.zeros((m + k, 3)), offset=np.zeros(m + k),
        sv=np.concatenate([geom.node_sv[owner], geom.node_sv[s_idx]]).astype(np.uint64),
        cell=np.concatenate([cell[owner], cell[s_idx]]),
        kind=np.concatenate([np.full(m, NEURITE, np.int8), np.full(k, SOMA_SPHERE, np.int8)]),
        key=np.concatenate([owner, s_idx]).astype(np.int64),
    )


class SpatialIndex:
    """Primitives found by the box they may touch (k-d tree over their centres)."""

    def __init__(self, prims: Primitives):
        self.prims = prims
        self.lo, self.hi = prims.lo, prims.hi
        if len(prims):
            centre = 0.5 * (self.lo + self.hi)
            self.half = 0.5 * (self.hi - self.lo)
            self.reach = float(np.linalg.norm(self.half, axis=1).max())
            self.tree = cKDTree(centre)
        else:
            self.tree = None

    def query(self, lo: np.ndarray, hi: np.ndarray, margin: float) -> np.ndarray:
        """Indices of primitives whose box (grown by ``margin``) meets [lo, hi]."""
        if self.tree is None:
            return np.zeros(0, np.int64)
        c = 0.5 * (lo + hi)
        r = float(np.linalg.norm(0.5 * (hi - lo))) + self.reach + margin
        idx = np.asarray(self.tree.query_ball_point(c, r), dtype=np.int64)
        if len(idx) == 0:
            return idx
        ok = np.all((self.lo[idx] - margin <= hi) & (self.hi[idx] + margin >= lo), axis=1)
        return np.sort(idx[ok])


def _nearest_node(geom: TissueGeometry, l2: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Row of the node of chunk ``l2[i]`` nearest to ``p[i]`` (-1 if the chunk has no node)."""
    order = np.argsort(geom.node_l2, kind="stable")
    l2_sorted = geom.node_l2[order]
    lo = np.searchsorted(l2_sorted, l2, "left")
    hi = np.searchsorted(l2_sorted, l2, "right")
    n = hi - lo
    out = np.full(len(l2), -1, np.int64)
    if n.sum() == 0:
        return out
    which = np.repeat(np.arange(len(l2)), n)
    start = np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n)
    cand = order[start + np.arange(len(which))]
    d = np.linalg.norm(geom.node_pos[cand] - p[which], axis=1)
    first = np.lexsort((cand, d, which))
    keep = np.ones(len(first), bool)
    keep[1:] = which[first][1:] != which[first][:-1]
    best = first[keep]
    out[which[best]] = cand[best]
    return out


def synapse_normals(geom: TissueGeometry, seed: int) -> np.ndarray:
    """Unit vectors from every synapse's post to its pre point (a hashed direction if equal)."""
    n = geom.syn_pre - geom.syn_post
    ln = np.linalg.norm(n, axis=1)
    bad = np.flatnonzero(ln < 1e-6)
    if len(bad):
        n[bad] = np.stack([uniform3(seed, 90 + k, bad, 0, 0) - 0.5 for k in range(3)],
                          axis=1).astype(np.float64) + 1e-3
        ln = np.linalg.norm(n, axis=1)
    return n / ln[:, None]


def synapse_primitives(geom: TissueGeometry, seed: int) -> Primitives:
    """Bouton and spine of every synapse, each with a stalk to its nearest neurite node.

    A bouton (presynaptic) or spine (postsynaptic) carries the synapse's supervoxel; it is a
    sphere whose face towards the partner is flattened by the cleft plane, which lies
    ``CLEFT_INSET_NM`` beyond the pre (post) point, so the point is inside it. A side whose
    supervoxel is 0 (unsegmented) gets no shape.
    """
    rows = np.arange(len(geom.syn_pre), dtype=np.int64)
    if len(rows) == 0:
        return _empty()
    n = synapse_normals(geom, seed)
    parts = []
    n_nodes = len(geom.node_pos)
    for side, sign in (("pre", 1.0), ("post", -1.0)):
        pre = side == "pre"
        pt = geom.syn_pre if pre else geom.syn_post
        sv = geom.syn_pre_sv if pre else geom.syn_post_sv
        l2 = geom.syn_pre_l2 if pre else geom.syn_post_l2
        u = uniform3(seed, 80 if pre else 81, rows, 0, 0).astype(np.float64)
        radius = 190.0 + 130.0 * u if pre else 120.0 + 80.0 * u
        centre = pt + sign * n * (0.5 * radius)[:, None]
        normal = sign * n
        offset = np.einsum("ij,ij->i", pt, normal) - CLEFT_INSET_NM
        node = _nearest_node(geom, l2, pt)
        has = node >= 0
        cell = np.where(has, geom.node_cell[np.maximum(node, 0)],
                        n_nodes + 2 * rows + (0 if pre else 1))
        k = sv != 0
        parts.append(Primitives(
            a=centre[k], b=centre[k], ra=radius[k], rb=radius[k], normal=normal[k],
            offset=offset[k], sv=sv[k], cell=cell[k],
            kind=np.full(int(k.sum()), BOUTON if pre else SPINE, np.int8), key=rows[k]))
        k = (sv != 0) & has
        neck = 0.55 * radius[k] if pre else np.full(int(k.sum()), SPINE_NECK_NM)
        nrad = geom.node_radius[node[k]]
        parts.append(Primitives(
            a=centre[k], b=geom.node_pos[node[k]], ra=neck,
            rb=np.maximum(np.minimum(nrad, 0.8 * neck), 40.0), normal=normal[k],
            offset=offset[k], sv=sv[k], cell=cell[k],
            kind=np.full(int(k.sum()), STALK if pre else NECK, np.int8), key=rows[k]))
    # the clefts: between the two cut planes, as wide as the spine's face
    pre_plane = geom.syn_pre - n * CLEFT_INSET_NM
    post_plane = geom.syn_post + n * CLEFT_INSET_NM
    half = 0.5 * np.einsum("ij,ij->i", pre_plane - post_plane, n)
    spine_r = 120.0 + 80.0 * uniform3(seed, 81, rows, 0, 0).astype(np.float64)
    k = (geom.syn_post_sv != 0) & (geom.syn_pre_sv != 0) & (half > 1.0)
    mid = 0.5 * (pre_plane + post_plane)
    parts.append(Primitives(
        a=mid[k], b=mid[k], ra=0.8 * spine_r[k], rb=0.8 * spine_r[k], normal=n[k],
        offset=half[k], sv=np.zeros(int(k.sum()), np.uint64), cell=np.full(int(k.sum()), -1),
        kind=np.full(int(k.sum()), CLEFT, np.int8), key=rows[k]))
    return Primitives.concat(parts)
