"""The demo's tissue geometry: skeleton nodes, synapses and nuclei, in nanometres.

:class:`TissueGeometry` holds what the renderers need, as plain numpy arrays.
:meth:`TissueGeometry.from_snapshot` reads it from a snapshot directory: the optional
``skeleton_nodes.arrow`` (written by the demo generator) memory-mapped, plus
``synapses.arrow`` and ``nuclei.parquet``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from napari_crant.tissue.errors import TissueError

__all__ = ["NODE_COLUMNS", "SKELETON_NODES", "SOMA", "TissueError", "TissueGeometry"]

#: The optional snapshot file with the demo's skeleton nodes.
SKELETON_NODES = "skeleton_nodes.arrow"
#: Compartment code of a soma node (as in the demo generator).
SOMA = 0
#: Columns of ``skeleton_nodes.arrow`` and their types.
NODE_COLUMNS = {
    "x": pa.float32(), "y": pa.float32(), "z": pa.float32(), "radius_nm": pa.float32(),
    "parent": pa.int64(), "l2_id": pa.uint64(), "sv_id": pa.uint64(), "compartment": pa.int8(),
}


@dataclass
class TissueGeometry:
    """Geometry of the demo brain that the synthetic EM and segmentation are drawn from.

    Attributes
    ----------
    node_pos : (N, 3) float64, nm
    node_radius : (N,) float64, nm
    node_parent : (N,) int64, row of the parent node, -1 for a tree root
    node_sv : (N,) uint64, a supervoxel of the node's L2 chunk
    node_l2 : (N,) uint64, the node's L2 chunk
    node_compartment : (N,) int8 (0 = soma)
    syn_pre, syn_post, syn_ctr : (S, 3) float64, nm
    syn_pre_sv, syn_post_sv, syn_pre_l2, syn_post_l2 : (S,) uint64
    nucleus_pos : (K, 3) float64, nm
    nucleus_radius : (K,) float64, nm
    voxel_resolution : (3,) float64, nm per mip-0 voxel
    volume_nm : (3,) float64, size of the volume
    """

    node_pos: np.ndarray
    node_radius: np.ndarray
    node_parent: np.ndarray
    node_sv: np.ndarray
    node_l2: np.ndarray
    node_compartment: np.ndarray
    syn_pre: np.ndarray
    syn_post: np.ndarray
    syn_ctr: np.ndarray
    syn_pre_sv: np.ndarray
    syn_post_sv: np.ndarray
    syn_pre_l2: np.ndarray
    syn_post_l2: np.ndarray
    nucleus_pos: np.ndarray
    nucleus_radius: np.ndarray
    voxel_resolution: np.ndarray
    volume_nm: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.node_pos)
        for name in ("node_radius", "node_parent", "node_sv", "node_l2", "node_compartment"):
            if len(getattr(self, name)) != n:
                raise TissueError(f"{name} has {len(getattr(self, name))} rows, node_pos {n}")
        if n and (self.node_parent.max() >= n or self.node_parent.min() < -1):
            raise TissueError("node parent indices must be -1 or a row of the nodes table")
        s = len(self.syn_pre)
        for name in ("syn_post", "syn_ctr", "syn_pre_sv", "syn_post_sv", "syn_pre_l2",
                     "syn_post_l2"):
            if len(getattr(self, name)) != s:
                raise TissueError(f"{name} has {len(getattr(self, name))} rows, syn_pre {s}")
        if len(self.nucleus_pos) != len(self.nucleus_radius):
            raise TissueError("nucleus_pos and nucleus_radius differ in length")
        self._cell: np.ndarray | None = None

    @property
    def volume_voxels(self) -> np.ndarray:
        """Size of the volume in mip-0 voxels (int64, x, y, z)."""
        return np.ceil(self.volume_nm / self.voxel_resolution).astype(np.int64)

    @property
    def node_cell(self) -> np.ndarray:
        """Tree (cell) of every node: the row of its root node (int64)."""
        if self._cell is None:
            cell = np.arange(len(self.node_parent), dtype=np.int64)
            par = self.node_parent
            has = par >= 0
            # pointer jumping: log(depth) passes
            up = np.where(has, par, cell)
            while True:
                nxt = up[up]
                if np.array_equal(nxt, up):
                    break
                up = nxt
            self._cell = up
        return self._cell

    @classmethod
    def from_snapshot(cls, path_or_source) -> TissueGeometry:
        """Read the geometry of a snapshot directory (or a ``SnapshotSource``).

        Parameters
        ----------
        path_or_source
            A snapshot directory, or an object with a ``path`` attribute naming one.

        Returns
        -------
        TissueGeometry

        Raises
        ------
        TissueError
            If the directory is not a snapshot or has no ``skeleton_nodes.arrow``.
        """
        root = Path(getattr(path_or_source, "path", path_or_source)).expanduser()
        manifest = root / "manifest.json"
        if not manifest.is_file():
            raise TissueError(f"{root} is not a snapshot directory (no manifest.json)")
        info = json.loads(manifest.read_text()).get("info", {})
        nodes_path = root / SKELETON_NODES
        if not nodes_path.is_file():
            raise TissueError(
                f"{root} has no {SKELETON_NODES}: this snapshot carries no skeleton geometry, "
                "so no synthetic tissue can be drawn for it (rebuild the demo)")
        nodes = pa.ipc.open_file(pa.memory_map(str(nodes_path), "r")).read_all()
        missing = [c for c in NODE_COLUMNS if c not in nodes.column_names]
        if missing:
            raise TissueError(f"{nodes_path} lacks the columns {missing}")
        syn = pa.ipc.open_file(pa.memory_map(str(root / "synapses.arrow"), "r")).read_all()
        nuclei = pq.read_table(root / "nuclei.parquet").to_pandas()
        res = np.asarray(info.get("voxel_resolution", (8, 8, 42)), dtype=np.float64)
        if "volume_nm" not in info:
            raise TissueError(f"{manifest} has no info.volume_nm (the size of the volume)")

        def col(t: pa.Table, name: str, dtype) -> np.ndarray:
            return t.column(name).to_numpy().astype(dtype, copy=False)

        def pts(prefix: str) -> np.ndarray:
            return np.stack([col(syn, f"{prefix}_pt_position_{a}", np.float64) for a in "xyz"],
                            axis=1) * res

        vol = nuclei["volume_um3"].to_numpy(dtype=np.float64) if len(nuclei) else np.zeros(0)
        return cls(
            node_pos=np.stack([col(nodes, a, np.float64) for a in "xyz"], axis=1),
            node_radius=col(nodes, "radius_nm", np.float64),
            node_parent=col(nodes, "parent", np.int64),
            node_sv=col(nodes, "sv_id", np.uint64),
            node_l2=col(nodes, "l2_id", np.uint64),
            node_compartment=col(nodes, "compartment", np.int8),
            syn_pre=pts("pre"), syn_post=pts("post"), syn_ctr=pts("ctr"),
            syn_pre_sv=col(syn, "pre_pt_supervoxel_id", np.uint64),
            syn_post_sv=col(syn, "post_pt_supervoxel_id", np.uint64),
            syn_pre_l2=col(syn, "pre_pt_l2_id", np.uint64),
            syn_post_l2=col(syn, "post_pt_l2_id", np.uint64),
            nucleus_pos=nuclei[["x", "y", "z"]].to_numpy(dtype=np.float64).reshape(-1, 3),
            nucleus_radius=(3.0 * vol / (4.0 * np.pi)) ** (1 / 3) * 1000.0,
            voxel_resolution=res,
            volume_nm=np.asarray(info["volume_nm"], dtype=np.float64),
        )

