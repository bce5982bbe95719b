"""The fine arbor geometry of the demo, as the optional ``skeleton_nodes`` snapshot table.

One row per skeleton node of :class:`~napari_crant.demo.morphology.Nodes` (same order: by
cell, in growth order), in nm, with the node's L2 chunk and one supervoxel of that chunk, so
a tissue renderer can draw the arbors and colour them by the root that holds them at any time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from napari_crant.demo.chunks import Chunks, node_supervoxels
from napari_crant.demo.morphology import Nodes
from napari_crant.snapshot.arrow_columns import ArrowColumnsWriter
from napari_crant.snapshot.key_files import release_pages
from napari_crant.snapshot.synapse_files import pandas_metadata
from napari_crant.snapshot.tables import OPTIONAL_SCHEMAS

#: Nodes written at once by :func:`write_skeleton_nodes`.
SLICE_ROWS = 1 << 22


def skeleton_nodes_table(nodes: Nodes, ch: Chunks, rows: slice = slice(None)) -> pd.DataFrame:
    """The ``skeleton_nodes`` table (see ``docs/snapshot-format.md``), or some of its rows.

    Parameters
    ----------
    nodes
        From :func:`~napari_crant.demo.morphology.grow_morphology`.
    ch
        From :func:`~napari_crant.demo.chunks.build_chunks` for the same nodes.
    rows
        The rows wanted (a slice with step 1; ``parent`` stays a row of the whole table).

    Returns
    -------
    pandas.DataFrame
        ``x, y, z`` (float32 nm), ``radius_nm`` (float32), ``parent`` (int64 row, -1 at a
        root), ``l2_id``, ``sv_id`` (uint64) and ``compartment`` (int8, the codes of
        :mod:`napari_crant.demo.morphology`).
    """
    pos_nm = nodes.pos[rows] * np.float32(1000.0)
    return pd.DataFrame({
        "x": pos_nm[:, 0], "y": pos_nm[:, 1], "z": pos_nm[:, 2],
        "radius_nm": (nodes.radius[rows] * np.float32(1000.0)).astype(np.float32),
        "parent": nodes.parent[rows].astype(np.int64),
        "l2_id": ch.l2_id[ch.l2_of_node[rows]],
        "sv_id": node_supervoxels(ch, rows),
        "compartment": nodes.comp[rows].astype(np.int8),
    })


def write_skeleton_nodes(nodes: Nodes, ch: Chunks, path: Path) -> int:
    """Write the ``skeleton_nodes`` table as a snapshot's Arrow file, :data:`SLICE_ROWS` at a time.

    Parameters
    ----------
    nodes, ch
        As for :func:`skeleton_nodes_table`.
    path
        The file to write (``skeleton_nodes.arrow`` of a snapshot being written).

    Returns
    -------
    int
        Number of rows written.
    """
    dtypes = {c: np.dtype(t) for c, t in OPTIONAL_SCHEMAS["skeleton_nodes"].items()}
    writer = ArrowColumnsWriter(path, dtypes, metadata=pandas_metadata(dtypes))
    try:
        for s in range(0, len(nodes.entity), SLICE_ROWS):
            part = skeleton_nodes_table(nodes, ch, slice(s, s + SLICE_ROWS))
            writer.append({c: part[c].to_numpy() for c in dtypes})
            del part
            # mapped nodes (make_demo's): their pages leave the resident set slice by slice
            release_pages(nodes.pos, nodes.parent, nodes.comp, nodes.radius, ch.l2_of_node)
        return writer.close()
    except BaseException:
        writer.abort()
        raise
