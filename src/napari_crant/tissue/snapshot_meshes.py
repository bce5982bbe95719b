"""Meshes of a snapshot: generated from its skeleton nodes and neuropil boxes (Qt-free).

:class:`SnapshotMeshes` is what :class:`~napari_crant.sources.snapshot.SnapshotSource`
answers ``root_mesh``, ``neuropil_meshes`` and ``brain_mesh`` with. Built lazily, once
per source.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.tissue.errors import TissueUnavailable
from napari_crant.tissue.geometry import SOMA
from napari_crant.tissue.mesh_fragments import FragmentMesher


class SnapshotMeshes:
    """Root, neuropil and brain meshes of one snapshot.

    Parameters
    ----------
    name
        Dataset name (for messages).
    nodes
        The snapshot's skeleton nodes (``None`` if it has none: no neuron meshes).
    neuropils
        ``name, x0, y0, z0, x1, y1, z1`` (nm).
    """

    def __init__(self, name: str, nodes: pd.DataFrame | None, neuropils: pd.DataFrame):
        self.name = name
        self._nodes = nodes
        self._boxes = neuropils
        self._lock = threading.Lock()
        self._mesher: FragmentMesher | None = None
        self._neuropils: dict[str, Any] | None = None
        self._brain: Any = None

    @property
    def mesher(self) -> FragmentMesher:
        """The fragment generator (raises :class:`TissueUnavailable` without skeleton nodes)."""
        if self._nodes is None:
            raise TissueUnavailable(
                f"dataset {self.name!r} has no neuron meshes: its snapshot has no skeleton_nodes.arrow"
            )
        with self._lock:
            if self._mesher is None:
                self._mesher = FragmentMesher(self._nodes)
            return self._mesher

    def root_mesh(self, l2_ids: np.ndarray, root_id: int) -> Any:
        """The mesh of a root whose L2 chunks are ``l2_ids`` (``trimesh.Trimesh``, nm)."""
        import trimesh

        verts, faces = self.mesher.mesh(l2_ids)
        if not len(faces):
            raise TissueUnavailable(f"root {root_id} of dataset {self.name!r} has no mesh fragments")
        return trimesh.Trimesh(verts, faces, process=False)

    def neuropil_meshes(self) -> dict[str, Any]:
        """``{name: trimesh.Trimesh}`` of the neuropil boxes' ellipsoids."""
        from napari_crant.tissue.neuropil_meshes import neuropil_surfaces

        if not len(self._boxes):
            raise TissueUnavailable(f"dataset {self.name!r} has no neuropils")
        with self._lock:
            if self._neuropils is None:
                self._neuropils = neuropil_surfaces(self._boxes)
            return dict(self._neuropils)

    def somata(self) -> tuple[np.ndarray, np.ndarray]:
        """Soma centres (K, 3) and radii (K,) in nm, from the skeleton's soma nodes."""
        if self._nodes is None:
            return np.zeros((0, 3)), np.zeros(0)
        soma = self._nodes["compartment"].to_numpy(np.int8) == SOMA
        pos = self._nodes[["x", "y", "z"]].to_numpy(np.float64)[soma]
        return pos, self._nodes["radius_nm"].to_numpy(np.float64)[soma]

    def brain_mesh(self) -> Any:
        """The convex hull of the neuropils and somata (``trimesh.Trimesh``, nm)."""
        from napari_crant.tissue.neuropil_meshes import brain_surface

        neuropils = self.neuropil_meshes()
        with self._lock:
            if self._brain is None:
                self._brain = brain_surface(neuropils, *self.somata())
            return self._brain
