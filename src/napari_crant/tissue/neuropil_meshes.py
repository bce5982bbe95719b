"""Neuropil and brain surfaces of the demo, from its neuropil boxes and somata (Qt-free).

A neuropil is the ellipsoid inscribed in its box (a closed, smooth, subdivided icosphere
scaled to the box's half-sizes), the brain the convex hull of every neuropil's ellipsoid
and of a sphere around every soma, so it encloses both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Subdivisions of the icosphere an ellipsoid is made from (642 vertices).
ELLIPSOID_SUBDIVISIONS = 3
#: Margin of the brain around the somata it encloses, as a factor of the soma radius.
SOMA_MARGIN = 1.25


def _unit_sphere() -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=ELLIPSOID_SUBDIVISIONS, radius=1.0)
    return np.asarray(ico.vertices, np.float64), np.asarray(ico.faces, np.int64)


def neuropil_surfaces(boxes: pd.DataFrame) -> dict:
    """One closed ellipsoid per neuropil box.

    Parameters
    ----------
    boxes
        ``name, x0, y0, z0, x1, y1, z1`` (nm).

    Returns
    -------
    dict of str to trimesh.Trimesh
        By neuropil name, in the table's order; vertices in nm.
    """
    import trimesh

    v, f = _unit_sphere()
    out = {}
    for row in boxes.itertuples(index=False):
        lo = np.array([row.x0, row.y0, row.z0], np.float64)
        hi = np.array([row.x1, row.y1, row.z1], np.float64)
        verts = (lo + hi) / 2.0 + v * (hi - lo) / 2.0
        # float32 positions, as every mesh format stores them (a served mesh equals this one)
        out[str(row.name)] = trimesh.Trimesh(verts.astype(np.float32), f.copy(), process=False)
    return out


def brain_surface(neuropils: dict, soma_pos: np.ndarray, soma_radius: np.ndarray):
    """The convex hull of the neuropil ellipsoids and of a sphere around each soma.

    Parameters
    ----------
    neuropils
        ``{name: trimesh.Trimesh}`` from :func:`neuropil_surfaces`.
    soma_pos, soma_radius
        Soma centres (K, 3) and radii (K,), nm.

    Returns
    -------
    trimesh.Trimesh
        Closed and convex, vertices in nm.
    """
    import trimesh

    v, _ = _unit_sphere()
    points = [m.vertices for m in neuropils.values()]
    soma_pos = np.asarray(soma_pos, np.float64).reshape(-1, 3)
    radius = np.asarray(soma_radius, np.float64).reshape(-1) * SOMA_MARGIN
    if len(soma_pos):
        coarse = v[:: max(len(v) // 42, 1)]
        points.append((soma_pos[:, None, :] + coarse[None, :, :] * radius[:, None, None]).reshape(-1, 3))
    hull = trimesh.convex.convex_hull(np.concatenate(points))
    return trimesh.Trimesh(np.asarray(hull.vertices, np.float32), hull.faces, process=False)
