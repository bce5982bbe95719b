"""The data-source interface the query core talks to.

A source answers a handful of primitive questions, always *at a timestamp* (a
:class:`~napari_crant.materialization.Materialization`): which roots are alive, which root a
node (supervoxel or L2 chunk) belonged to, which synapses a set of roots has, what a root's
level-2 graph looks like. The query functions (:mod:`napari_crant.queries`) build the
CRANTb semantics on top, so they do not know whether data comes from disk or from CAVE.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.materialization import Materialization
from napari_crant.tissue.errors import TissueUnavailable

#: Columns of :meth:`DataSource.synapses` (positions in nm, split per axis).
SYNAPSE_COLUMNS = (
    "id",
    "pre_pt_root_id",
    "post_pt_root_id",
    "pre_pt_supervoxel_id",
    "post_pt_supervoxel_id",
    "size",
    *(f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"),
)


class DataSource(ABC):
    """Where the query core gets its data from.

    Every array of IDs passed in or returned is ``uint64``.
    """

    #: Short dataset name shown to users (``"demo"``, ``"latest"``, a directory name...).
    name: str
    #: Whether two threads may read :meth:`synapse_columns` at once (the query core then reads a
    #: query's two sides side by side).
    concurrent_reads: bool = False

    @property
    @abstractmethod
    def cache_key(self) -> str:
        """A string that identifies the data behind this source (for caches)."""

    @property
    @abstractmethod
    def voxel_resolution(self) -> np.ndarray:
        """nm per voxel of the synapse table's positions, as ``float64[3]`` (x, y, z)."""

    @abstractmethod
    def versions(self) -> pd.DataFrame:
        """Materialization versions: ``version`` (int64), ``timestamp`` (UTC), ``valid``."""

    def newest_version(self) -> tuple[pd.Timestamp, int] | None:
        """The newest valid version's ``(timestamp, version)``, ``None`` if there is none.

        ``'latest'`` resolves through this on every query; a source whose versions never
        change (a snapshot) answers it once.
        """
        versions = self.versions()
        number = versions["version"].to_numpy(np.int64)
        ok = versions["valid"].to_numpy(bool)
        if not ok.any():
            return None
        newest = int(np.flatnonzero(ok)[np.argmax(number[ok])])
        return versions["timestamp"].iloc[newest], int(number[newest])

    def version_timestamp(self, version: int) -> pd.Timestamp | None:
        """The moment (UTC) of materialization ``version`` if it exists and is valid, else None.

        A pinned version resolves through this on every query (None: the query reads
        :meth:`versions` to say what is wrong); sources may answer it without the whole list.
        """
        versions = self.versions()
        row = np.flatnonzero(versions["version"].to_numpy(np.int64) == int(version))
        if len(row) != 1 or not bool(versions["valid"].to_numpy(bool)[row[0]]):
            return None
        return versions["timestamp"].iloc[int(row[0])]

    @abstractmethod
    def now(self) -> pd.Timestamp:
        """The timestamp meant by ``'live'`` (UTC)."""

    @abstractmethod
    def root_status(self, ids: np.ndarray, at: Materialization) -> tuple[np.ndarray, np.ndarray]:
        """Tell which IDs are roots at all and which are alive at ``at``.

        Returns
        -------
        (known, alive)
            Two boolean arrays aligned with ``ids``: ``known`` - the ID is a root of this
            dataset (at any time); ``alive`` - it is the current root of its segment at ``at``.
        """

    def one_root_status(self, root: int, at: Materialization) -> tuple[bool, bool]:
        """:meth:`root_status` of one ID as ``(known, alive)`` plain booleans (a single-neuron
        query's hot path; sources may answer it without arrays)."""
        known, alive = self.root_status(np.array([root], np.uint64), at)
        return bool(known[0]), bool(alive[0])

    @abstractmethod
    def root_created(self, ids: np.ndarray) -> pd.Series:
        """When each root was created (UTC timestamps, aligned with ``ids``; NaT if unknown)."""

    @abstractmethod
    def roots_of_supervoxels(self, sv_ids: np.ndarray, at: Materialization) -> np.ndarray:
        """Root ID of each supervoxel at ``at`` (0 where unknown or ``sv_id`` is 0)."""

    @abstractmethod
    def l2_of_supervoxels(self, sv_ids: np.ndarray, at: Materialization | None = None) -> np.ndarray:
        """The L2 chunk of each supervoxel at ``at`` (now if None; 0 where unknown or ``sv_id`` is 0)."""

    @abstractmethod
    def l2_ids(self, root_id: int) -> np.ndarray:
        """The level-2 chunk IDs of root ``root_id`` (sorted)."""

    def l2_ids_many(self, root_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L2 chunks of several roots, and aligned the index into ``root_ids`` of each."""
        parts = [self.l2_ids(int(r)) for r in root_ids]
        owner = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
        l2 = np.concatenate(parts).astype(np.uint64) if parts else np.array([], np.uint64)
        return l2, owner

    @abstractmethod
    def roots_of_l2(self, l2_ids: np.ndarray, at: Materialization) -> np.ndarray:
        """Root ID of each L2 chunk at ``at`` (0 where the chunk does not exist then)."""

    @abstractmethod
    def l2_graph(self, root_id: int) -> np.ndarray:
        """Edges ``(n, 2)`` uint64 of the root's level-2 graph."""

    @abstractmethod
    def l2_attributes(self, l2_ids: np.ndarray) -> pd.DataFrame:
        """``l2_id, x, y, z`` (nm, representative point) and ``max_dt_nm`` for each chunk."""

    @abstractmethod
    def synapses(
        self,
        pre_ids: np.ndarray | None,
        post_ids: np.ndarray | None,
        at: Materialization,
        positions: bool = True,
    ) -> pd.DataFrame:
        """Synapses whose presynaptic root is in ``pre_ids`` (and postsynaptic root in ``post_ids``).

        Roots are those alive at ``at``; when both sets are given both must hold, when one
        is ``None`` it does not restrict. Returns :data:`SYNAPSE_COLUMNS` with positions in
        nm (without the position columns if ``positions`` is False), one row per synapse,
        sorted by ``id``, never truncated.
        """

    def synapse_columns(
        self,
        pre_ids: np.ndarray | None,
        post_ids: np.ndarray | None,
        at: Materialization,
        columns: tuple[str, ...] = ("id", "size"),
    ) -> dict[str, np.ndarray]:
        """The rows of :meth:`synapses` as arrays, for queries that count rather than show.

        Same selection as :meth:`synapses` (``positions=False``), in no particular order:
        ``pre_pt_root_id``, ``post_pt_root_id`` (uint64) and those of ``id`` (uint64) and
        ``size`` (int64) named in ``columns`` (a source may return more). Sources override
        it to skip building and sorting a DataFrame, and to read only the columns asked for.
        """
        df = self.synapses(pre_ids, post_ids, at, positions=False)
        return {
            "id": df["id"].to_numpy(np.uint64),
            "pre_pt_root_id": df["pre_pt_root_id"].to_numpy(np.uint64),
            "post_pt_root_id": df["post_pt_root_id"].to_numpy(np.uint64),
            "size": df["size"].to_numpy(np.int64),
        }

    def partner_roots(
        self, root: int, at: Materialization, sides: tuple[str, ...] = ("pre", "post")
    ) -> dict[str, np.ndarray]:
        """The partners of one root's synapses on each of ``sides``, one entry per synapse.

        Side ``'pre'``: the synapses the root makes (its outputs), their postsynaptic roots;
        ``'post'``: the synapses onto it, their presynaptic roots; at ``at``, in no particular
        order, uint64. Empty for a root that is not alive at ``at``. The same rows as
        :meth:`synapse_columns` with the root on that side; sources override it to read one
        column of one root's rows and nothing else (a single-neuron query's hot path).
        """
        one = np.array([root], dtype=np.uint64)
        return {side: (self.synapse_columns(one, None, at, ())["post_pt_root_id"] if side == "pre"
                       else self.synapse_columns(None, one, at, ())["pre_pt_root_id"])
                for side in sides}

    @abstractmethod
    def annotations(self) -> pd.DataFrame:
        """The annotation table (CRANTb fields; ``root_id`` as of annotation time)."""

    def nuclei(self) -> pd.DataFrame:
        """Somata: ``nucleus_id, supervoxel_id, x, y, z`` (nm). Empty if the source has none."""
        return pd.DataFrame(
            {
                "nucleus_id": np.array([], np.uint64),
                "supervoxel_id": np.array([], np.uint64),
                **{a: np.array([], float) for a in "xyz"},
            }
        )

    # Tissue (EM and supervoxels); the query layer agglomerates supervoxels to roots at a
    # timestamp through roots_of_supervoxels, for every source (napari_crant.queries.tissue).

    def tissue_layer(self, kind: str) -> Any:
        """The :class:`~napari_crant.tissue.cutout.TissueLayer` of ``kind`` (``"em"`` or
        ``"segmentation"``).

        Raises
        ------
        TissueUnavailable
            If this dataset has no such volume (the default).
        """
        what = "image (EM)" if kind == "em" else "segmentation"
        raise TissueUnavailable(f"dataset {self.name!r} ({type(self).__name__}) has no {what} source")

    def em_cutout(self, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        """EM voxels (uint8, x, y, z) of ``bbox_vox = ((x0, y0, z0), (x1, y1, z1))``, half-open,
        in voxels of ``mip`` (inside the volume, checked by the caller).

        Raises
        ------
        TissueUnavailable
            If this dataset has no EM (the default) or it cannot be read.
        """
        self.tissue_layer("em")
        raise TissueUnavailable(f"dataset {self.name!r} cannot cut EM")

    def segmentation_cutout(self, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        """Supervoxel IDs (uint64, x, y, z) of ``bbox_vox`` in voxels of ``mip``; 0 is
        outside every segment.

        Raises
        ------
        TissueUnavailable
            If this dataset has no segmentation (the default) or it cannot be read.
        """
        self.tissue_layer("segmentation")
        raise TissueUnavailable(f"dataset {self.name!r} cannot cut segmentation")

    def describe(self) -> dict[str, Any]:
        """Provenance fields describing this source (for ``DataFrame.attrs``)."""
        return {"dataset": self.name, "source": type(self).__name__}

    # Meshes (napari_crant.queries.meshes): a root's mesh and the brain's surfaces.

    def root_mesh(self, root_id: int, at: Materialization) -> Any:
        """The mesh of one root (the union of its L2 chunks' fragments), nm.

        ``at`` is the moment the root was resolved at (a root never changes, so its mesh
        does not depend on it; sources may use it for caching or checks).

        Returns
        -------
        trimesh.Trimesh

        Raises
        ------
        TissueUnavailable
            If this dataset has no meshes (the default).
        """
        raise TissueUnavailable(f"dataset {self.name!r} ({type(self).__name__}) has no neuron meshes")

    def neuropil_meshes(self) -> dict[str, Any]:
        """Neuropil surfaces by name (``trimesh.Trimesh``, nm).

        Raises
        ------
        TissueUnavailable
            If this dataset has no neuropil meshes (the default).
        """
        raise TissueUnavailable(f"dataset {self.name!r} ({type(self).__name__}) has no neuropil meshes")

    def brain_mesh(self) -> Any:
        """The brain's surface (``trimesh.Trimesh``, nm).

        Raises
        ------
        TissueUnavailable
            If this dataset has no brain mesh (the default).
        """
        raise TissueUnavailable(f"dataset {self.name!r} ({type(self).__name__}) has no brain mesh")
