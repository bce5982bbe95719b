"""The fine arbor geometry of the demo, as the optional ``skeleton_nodes`` snapshot table.

One row per skeleton node of :class:`~napari_crant.demo.morphology.Nodes` (same order: by
cell, in growth order), in nm, with the node's L2 chunk and one supervoxel of that chunk, so
a tissue renderer can draw the arbors and colour them by the root that holds them at any time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_crant.demo.chunks import Chunks, node_supervoxels
from napari_crant.demo.morphology import Nodes


def skeleton_nodes_table(nodes: Nodes, ch: Chunks) -> pd.DataFrame:
    """The ``skeleton_nodes`` table (see ``docs/snapshot-format.md``).

    Parameters
    ----------
    nodes
        From :func:`~napari_crant.demo.morphology.grow_morphology`.
    ch
        From :func:`~napari_crant.demo.chunks.build_chunks` for the same nodes.

    Returns
    -------
    pandas.DataFrame
        ``x, y, z`` (float32 nm), ``radius_nm`` (float32), ``parent`` (int64 row, -1 at a
        root), ``l2_id``, ``sv_id`` (uint64) and ``compartment`` (int8, the codes of
        :mod:`napari_crant.demo.morphology`).
    """
    pos_nm = nodes.pos * np.float32(1000.0)
    return pd.DataFrame({
        "x": pos_nm[:, 0], "y": pos_nm[:, 1], "z": pos_nm[:, 2],
        "radius_nm": (nodes.radius * np.float32(1000.0)).astype(np.float32),
        "parent": nodes.parent.astype(np.int64),
        "l2_id": ch.l2_id[ch.l2_of_node],
        "sv_id": node_supervoxels(ch),
        "compartment": nodes.comp.astype(np.int8),
    })
