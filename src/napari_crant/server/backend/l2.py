"""L2 cache attributes and L2 skeletons over a snapshot."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_crant.ids import unique_in_order
from napari_crant.queries.skeleton import skeleton_nodes
from napari_crant.server.backend.common import BackendError
from napari_crant.sources.snapshot import SnapshotSource

#: The L2 cache attributes the server knows, with their caveclient type names.
L2_ATTRIBUTES = {"rep_coord_nm": "list", "max_dt_nm": "float", "size_nm3": "float"}


class L2Backend:
    """L2 cache attributes and L2 skeletons of one snapshot.

    Parameters
    ----------
    source
        The snapshot.
    is_root
        Tells which IDs are roots of the snapshot.
    """

    def __init__(self, source: SnapshotSource, is_root: Any):
        self.source = source
        self._is_root = is_root

    def l2_attributes(self, l2_ids: np.ndarray, names: list[str] | None) -> dict[str, Any]:
        """``{str(l2): {attribute: value}}`` for each distinct ID; unknown chunks map to ``{}``."""
        names = names or list(L2_ATTRIBUTES)
        unknown = [n for n in names if n not in L2_ATTRIBUTES]
        if unknown:
            raise BackendError(f"attribute_names: unknown attribute {unknown[0]!r} "
                               f"(known: {', '.join(L2_ATTRIBUTES)})")
        ids = unique_in_order(np.asarray(l2_ids, dtype=np.uint64))
        df = self.source.l2_attributes(ids).set_index("l2_id")
        out: dict[str, Any] = {}
        for i in ids:
            if i not in df.index:
                out[str(int(i))] = {}
                continue
            row = df.loc[i]
            rec: dict[str, Any] = {}
            for n in names:
                if n == "rep_coord_nm":
                    rec[n] = [float(row["x"]), float(row["y"]), float(row["z"])]
                else:
                    rec[n] = float(row[n])
            out[str(int(i))] = rec
        return out

    def skeleton(self, root_id: int) -> dict[str, Any]:
        """An L2 skeleton of a root in SkeletonService's flat-dict layout (nm).

        Nodes are L2 chunks at their representative points, edges the minimum spanning tree of the
        L2 graph (see :func:`napari_crant.queries.skeleton.skeleton_nodes`); this is napari-crant's
        L2 skeleton, not pcg_skel's.
        """
        if not self._is_root(np.array([root_id], np.uint64))[0]:
            raise BackendError(f"{root_id} is not a root ID")
        nodes = skeleton_nodes(self.source, int(root_id))
        parent = nodes["parent_id"].to_numpy(np.int64)
        child = np.flatnonzero(parent >= 0)
        roots = np.flatnonzero(parent < 0)
        return {
            "vertices": nodes[["x", "y", "z"]].to_numpy(float).tolist(),
            "edges": [[int(c), int(parent[c])] for c in child],
            "root": int(roots[0]) if len(roots) else 0,
            "radius": nodes["radius"].to_numpy(float).tolist(),
            "compartment": [3] * len(nodes),
            "lvl2_ids": [int(x) for x in nodes["l2_id"]],
            "meta": {"root_id": int(root_id), "skeleton_type": "napari-crant-l2", "space": "l2"},
        }
