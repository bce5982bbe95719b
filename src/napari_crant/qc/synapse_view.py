"""How to look at one synapse (Qt-free): across its pre -> post axis, in a thin slab around it.

Panning to a synapse shows it from wherever the camera happens to look. To judge a synapse a
proofreader looks *across* the synaptic cleft, with the presynaptic and postsynaptic sites
side by side, and hides what lies in front and behind. :func:`oblique_directions` gives the
camera's view and up directions for that, :func:`slab_clipping_planes` the two clipping
planes that keep a slab of a given thickness around the synapse. Coordinates are (z, y, x) nm,
as the napari layers of this package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: default slab thickness (nm)
SLAB_NM = 1_000.0


def synapse_sites(row: Any) -> tuple[np.ndarray, np.ndarray]:
    """The presynaptic and postsynaptic sites of a worklist row, (z, y, x) nm."""
    pre = np.array([row["pre_z"], row["pre_y"], row["pre_x"]], np.float64)
    post = np.array([row["post_z"], row["post_y"], row["post_x"]], np.float64)
    return pre, post


def oblique_directions(pre_zyx: Any, post_zyx: Any) -> tuple[np.ndarray, np.ndarray]:
    """Camera view and up directions that show the pre -> post axis across the screen.

    Parameters
    ----------
    pre_zyx, post_zyx
        The two sites (z, y, x), nm.

    Returns
    -------
    (view, up)
        Unit vectors (z, y, x), both orthogonal to the axis: the axis runs left to right.
        When the two sites coincide the axis is taken along x.
    """
    axis = np.asarray(post_zyx, np.float64) - np.asarray(pre_zyx, np.float64)
    norm = np.linalg.norm(axis)
    axis = axis / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
    # look as nearly down z as the axis allows (the usual EM view), tilted to be across the axis
    ref = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    view = ref - axis * float(ref @ axis)
    view /= np.linalg.norm(view)
    up = np.cross(view, axis)
    up /= np.linalg.norm(up)
    return view, up


def slab_clipping_planes(center_zyx: Any, normal_zyx: Any, thickness: float = SLAB_NM) -> list[dict]:
    """Two napari clipping planes keeping a slab of ``thickness`` nm around ``center_zyx``.

    Parameters
    ----------
    center_zyx
        The slab's centre (z, y, x), nm.
    normal_zyx
        The direction across the slab (e.g. the camera's view direction).
    thickness
        Slab thickness (nm, > 0).

    Returns
    -------
    list of dict
        ``position``, ``normal``, ``enabled`` for ``layer.experimental_clipping_planes``: each
        keeps the side its normal points to.
    """
    if not np.isfinite(thickness) or thickness <= 0:
        raise ValueError(f"slab thickness must be a positive number of nm, not {thickness!r}")
    n = np.asarray(normal_zyx, np.float64)
    n = n / np.linalg.norm(n)
    c = np.asarray(center_zyx, np.float64)
    half = float(thickness) / 2.0
    return [
        {"position": tuple(c + n * half), "normal": tuple(-n), "enabled": True},
        {"position": tuple(c - n * half), "normal": tuple(n), "enabled": True},
    ]
