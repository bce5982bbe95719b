"""Shared helpers of the mesh tests: an edited neuron of the tiny demo, enclosure checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_crant.materialization import resolve_materialization
from napari_crant.sources.snapshot import SnapshotSource


def edited_root(source: SnapshotSource, early=2, late="latest") -> tuple[int, int]:
    """``(root alive at late, a root of it alive at early)`` for an edit between the two moments
    whose two roots have different L2 chunks."""
    t0, t1 = resolve_materialization(source, early), resolve_materialization(source, late)
    lin = source.lineage()
    ts = pd.to_datetime(lin["timestamp"], utc=True)
    lin = lin[(ts > t0.timestamp) & (ts <= t1.timestamp)]
    for parent, child in zip(lin["parent_root_id"].to_numpy(np.uint64),
                             lin["child_root_id"].to_numpy(np.uint64), strict=True):
        _, alive0 = source.root_status(np.array([parent]), t0)
        _, alive1 = source.root_status(np.array([child]), t1)
        differs = set(source.l2_ids(int(parent)).tolist()) != set(source.l2_ids(int(child)).tolist())
        if alive0[0] and alive1[0] and len(source.l2_ids(int(child))) > 3 and differs:
            return int(child), int(parent)
    raise AssertionError("the tiny demo has no edit between the two moments")


def nodes_of_root(source: SnapshotSource, root: int) -> pd.DataFrame:
    """The skeleton nodes in the root's L2 chunks."""
    nodes = source.skeleton_nodes()
    keep = np.isin(nodes["l2_id"].to_numpy(np.uint64), source.l2_ids(root))
    return nodes[keep]


def enclosed(mesh, points: np.ndarray, tol_nm: float = 1.0) -> np.ndarray:
    """Which points lie inside (or within ``tol_nm`` of) some closed convex body of ``mesh``.

    The mesh is a union of closed, overlapping convex shells (tubes and polyhedra), so
    inside-ness is asked of each shell (``mesh.split``): inside all its faces' half-spaces.
    """
    points = np.asarray(points, np.float64)
    inside = np.zeros(len(points), bool)
    for body in mesh.split(only_watertight=True):
        assert body.is_watertight and body.is_winding_consistent and body.volume > 0
        lo, hi = body.bounds
        near = ~inside & np.all((points >= lo - tol_nm) & (points <= hi + tol_nm), axis=1)
        if not near.any():
            continue
        tri = np.asarray(body.triangles)
        normals = np.asarray(body.face_normals)
        idx = np.flatnonzero(near)
        side = np.einsum("fk,pfk->pf", normals, points[idx][:, None, :] - tri[None, :, 0, :])
        inside[idx[(side <= tol_nm).all(axis=1)]] = True
    return inside
