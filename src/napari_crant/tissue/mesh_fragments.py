"""Mesh fragments of the demo's L2 chunks, generated from its fine skeleton (Qt-free).

Like CRANTb's chunkedgraph, a root's mesh is the union of one fragment per level-2 chunk:
the fragment of a chunk is a closed tube around each half-segment next to the chunk's
skeleton nodes (a segment node → parent is split at its middle, each half belonging to
its node's chunk, as in the synthetic segmentation) and a sphere at each node (the soma
radius at soma nodes), so every node is inside its chunk's fragment. Generation is
vectorised over all half-segments and nodes of the chunks asked for; fragments are kept
in a bounded LRU cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_crant.tissue.geometry import SOMA

#: Sides of a tube's polygonal cross-section.
TUBE_SIDES = 8
#: Fragments kept per :class:`FragmentMesher` (LRU by count).
DEFAULT_CACHE_FRAGMENTS = 20_000


def _icosahedron() -> tuple[np.ndarray, np.ndarray]:
    """Unit icosahedron: 12 vertices on the unit sphere, 20 outward-wound triangles."""
    t = (1.0 + 5**0.5) / 2.0
    v = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
         [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=np.float64,
    )
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    f = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]],
        dtype=np.int64,
    )
    return v, f


_SPHERE_V, _SPHERE_F = _icosahedron()
#: Scale so that the icosahedron's inscribed sphere has the node's radius.
_SPHERE_SCALE = 1.0 / 0.7947
_ANGLES = np.linspace(0.0, 2.0 * np.pi, TUBE_SIDES, endpoint=False)
#: Scale so that the polygon's inscribed circle has the segment's radius.
_TUBE_SCALE = 1.0 / np.cos(np.pi / TUBE_SIDES)


def _tube_faces() -> np.ndarray:
    """Faces of a capped tube: ring 0 (k = 0..S-1), ring 1 (S..2S-1), cap centres 2S, 2S+1."""
    s = TUBE_SIDES
    k = np.arange(s)
    k1 = (k + 1) % s
    side_a = np.stack([k, k1, s + k1], axis=1)
    side_b = np.stack([k, s + k1, s + k], axis=1)
    cap0 = np.stack([np.full(s, 2 * s), k1, k], axis=1)
    cap1 = np.stack([np.full(s, 2 * s + 1), s + k, s + k1], axis=1)
    return np.concatenate([side_a, side_b, cap0, cap1])


_TUBE_F = _tube_faces()
_TUBE_NV = 2 * TUBE_SIDES + 2


def tubes(p0: np.ndarray, p1: np.ndarray, r0: np.ndarray, r1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed tapered tubes from ``p0`` (radius ``r0``) to ``p1`` (radius ``r1``), all at once.

    Returns
    -------
    (vertices (M*(2S+2), 3) float64, faces (M*4S, 3) int64)
    """
    m = len(p0)
    if m == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    axis = p1 - p0
    length = np.linalg.norm(axis, axis=1)
    w = np.where(length[:, None] > 0, axis / np.maximum(length, 1e-12)[:, None], [0.0, 0.0, 1.0])
    helper = np.where(np.abs(w[:, 0:1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(w, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(w, u)
    ring = np.cos(_ANGLES)[None, :, None] * u[:, None, :] + np.sin(_ANGLES)[None, :, None] * v[:, None, :]
    ring0 = p0[:, None, :] + ring * (r0 * _TUBE_SCALE)[:, None, None]
    ring1 = p1[:, None, :] + ring * (r1 * _TUBE_SCALE)[:, None, None]
    verts = np.concatenate([ring0, ring1, p0[:, None, :], p1[:, None, :]], axis=1)
    faces = _TUBE_F[None, :, :] + (np.arange(m) * _TUBE_NV)[:, None, None]
    return verts.reshape(-1, 3), faces.reshape(-1, 3)


def spheres(centres: np.ndarray, radii: np.ndarray, fine: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Closed polyhedra whose inscribed spheres have ``radii``, all at once (an icosahedron,
    or with ``fine`` a twice subdivided one, for somata)."""
    tv, tf, scale = (_FINE_V, _FINE_F, _FINE_SCALE) if fine else (_SPHERE_V, _SPHERE_F, _SPHERE_SCALE)
    m = len(centres)
    verts = centres[:, None, :] + tv[None, :, :] * (radii * scale)[:, None, None]
    faces = tf[None, :, :] + (np.arange(m) * len(tv))[:, None, None]
    return verts.reshape(-1, 3), faces.reshape(-1, 3)


def _fine_sphere() -> tuple[np.ndarray, np.ndarray, float]:
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    v, f = np.asarray(ico.vertices, np.float64), np.asarray(ico.faces, np.int64)
    inradius = np.abs(np.einsum("ij,ij->i", np.asarray(ico.face_normals), v[f[:, 0]])).min()
    return v, f, 1.0 / float(inradius)


_FINE_V, _FINE_F, _FINE_SCALE = _fine_sphere()


@dataclass
class _Pieces:
    """Half-segments and node spheres sorted by the L2 chunk that owns them."""

    seg_l2: np.ndarray  # (H,) uint64, sorted
    seg_p0: np.ndarray
    seg_p1: np.ndarray
    seg_r0: np.ndarray
    seg_r1: np.ndarray
    node_l2: np.ndarray  # (N,) uint64, sorted
    node_pos: np.ndarray
    node_radius: np.ndarray
    node_soma: np.ndarray  # (N,) bool


def _pieces(nodes: pd.DataFrame) -> _Pieces:
    pos = nodes[["x", "y", "z"]].to_numpy(np.float64)
    radius = nodes["radius_nm"].to_numpy(np.float64)
    soma = nodes["compartment"].to_numpy(np.int8) == SOMA
    parent = nodes["parent"].to_numpy(np.int64)
    l2 = nodes["l2_id"].to_numpy(np.uint64)
    child = np.flatnonzero(parent >= 0)
    par = parent[child]
    mid = (pos[child] + pos[par]) / 2.0
    # a neurite leaving a soma keeps its own radius there (the soma is its sphere)
    r_par = np.where(soma[par], radius[child], radius[par])
    rmid = (radius[child] + r_par) / 2.0
    seg_l2 = np.concatenate([l2[child], l2[par]])
    order = np.argsort(seg_l2, kind="stable")
    node_order = np.argsort(l2, kind="stable")
    return _Pieces(
        seg_l2=seg_l2[order],
        seg_p0=np.concatenate([pos[child], mid])[order],
        seg_p1=np.concatenate([mid, pos[par]])[order],
        seg_r0=np.concatenate([radius[child], rmid])[order],
        seg_r1=np.concatenate([rmid, r_par])[order],
        node_l2=l2[node_order],
        node_pos=pos[node_order],
        node_radius=radius[node_order],
        node_soma=soma[node_order],
    )


class FragmentMesher:
    """Meshes of L2 chunks from skeleton nodes, with a bounded LRU cache of fragments.

    Parameters
    ----------
    nodes
        ``x, y, z, radius_nm, parent, l2_id`` (and ``compartment``: 0 = soma), as in a
        snapshot's ``skeleton_nodes.arrow``.
    max_fragments
        How many fragments the cache keeps.
    """

    def __init__(self, nodes: pd.DataFrame, max_fragments: int = DEFAULT_CACHE_FRAGMENTS):
        self._pieces = _pieces(nodes)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._max = int(max_fragments)
        self._lock = threading.Lock()

    def known(self, l2_ids: np.ndarray) -> np.ndarray:
        """Which of ``l2_ids`` have skeleton nodes (bool array)."""
        l2_ids = np.asarray(l2_ids, np.uint64)
        i = np.searchsorted(self._pieces.node_l2, l2_ids)
        i = np.minimum(i, max(len(self._pieces.node_l2) - 1, 0))
        return len(self._pieces.node_l2) > 0 and self._pieces.node_l2[i] == l2_ids

    def _generate(self, l2_ids: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        p = self._pieces
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        s_lo = np.searchsorted(p.seg_l2, l2_ids, "left")
        s_hi = np.searchsorted(p.seg_l2, l2_ids, "right")
        n_lo = np.searchsorted(p.node_l2, l2_ids, "left")
        n_hi = np.searchsorted(p.node_l2, l2_ids, "right")
        for l2, a, b, c, d in zip(l2_ids, s_lo, s_hi, n_lo, n_hi, strict=True):
            seg, node = slice(a, b), slice(c, d)
            soma = p.node_soma[node]
            pos, rad = p.node_pos[node], p.node_radius[node]
            parts = [
                tubes(p.seg_p0[seg], p.seg_p1[seg], p.seg_r0[seg], p.seg_r1[seg]),
                spheres(pos[~soma], rad[~soma]),
                spheres(pos[soma], rad[soma], fine=True),
            ]
            out[int(l2)] = concatenate(parts)
        return out

    def fragments(self, l2_ids: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{l2_id: (vertices float32 (V, 3) nm, faces uint32 (F, 3))}``; empty meshes for
        chunks without skeleton nodes."""
        l2_ids = np.unique(np.asarray(l2_ids, np.uint64))
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        with self._lock:
            for l2 in l2_ids:
                hit = self._cache.get(int(l2))
                if hit is not None:
                    self._cache.move_to_end(int(l2))
                    out[int(l2)] = hit
        missing = np.array([l2 for l2 in l2_ids if int(l2) not in out], np.uint64)
        if len(missing):
            made = self._generate(missing)
            with self._lock:
                for key, value in made.items():
                    self._cache[key] = value
                    self._cache.move_to_end(key)
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
            out.update(made)
        return out

    def mesh(self, l2_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The concatenated fragments of ``l2_ids``: (vertices float32 nm, faces uint32)."""
        frags = self.fragments(l2_ids)
        return concatenate(list(frags.values()))

    @property
    def cached(self) -> int:
        """How many fragments are cached."""
        return len(self._cache)


def concatenate(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One (vertices, faces) from several, face indices offset."""
    if not parts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint32)
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    verts = np.concatenate([v for v, _ in parts]).astype(np.float32)
    faces = np.concatenate([f.astype(np.int64) + o for (_, f), o in zip(parts, offsets, strict=True)])
    return verts, faces.astype(np.uint32)
