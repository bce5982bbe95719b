"""The snapshot source: a dataset directory on local disk.

Large tables are Arrow IPC files that are memory-mapped, not read: opening a snapshot costs
the manifest and a few small Parquet tables, and a query touches only the rows it needs.
Lookups are binary searches on sorted key columns (see ``docs/snapshot-format.md``):

- root -> its L2 chunks: ``root_l2`` sorted by ``root_id``;
- root -> synapse rows at the newest version: ``synapses`` grouped by presynaptic root and
  its post-side copy by postsynaptic root (one contiguous slice per root, roots stored);
- L2 chunk -> synapse rows at any other moment: each chunk's run of rows in either side's
  table (``sources/snapshot_synapses.py``);
- L2 chunk -> root at time t: ``l2_roots`` sorted by ``l2_id``, filtered by lifetime
  (these lookups of roots, L2 chunks and supervoxels: ``sources/snapshot_graph.py``).

DuckDB is available over all tables through :meth:`SnapshotSource.sql`.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from napari_crant.ids import in_sorted, sorted_unique
from napari_crant.materialization import Materialization
from napari_crant.snapshot import format as fmt
from napari_crant.snapshot.integrity import SnapshotError, check_files, present_files, read_manifest
from napari_crant.snapshot.tables import OPTIONAL_SCHEMAS
from napari_crant.sources.base import SYNAPSE_COLUMNS, DataSource
from napari_crant.sources.snapshot_graph import SnapshotGraph
from napari_crant.sources.snapshot_mapping import KeyedFile, MappedTable, map_keyed, page_in
from napari_crant.sources.snapshot_synapses import SynapseIndex, expand_ranges

_EMPTY = np.array([], dtype=np.uint64)
#: Tables read by key (a root's slice, binary searches): mapped for random access, their
#: rows prefetched by the query (``sources/snapshot_mapping.py``).
_KEYED = (fmt.SYNAPSES, fmt.SYNAPSES_POST, fmt.SYNAPSES_PRE_L2, fmt.SYNAPSES_POST_L2, fmt.ROOT_L2,
          fmt.L2_ROOTS, fmt.L2, fmt.SUPERVOXELS, fmt.L2_EDGES)
#: The files queries read by key (what :meth:`SnapshotSource.preload` reads).
QUERY_FILES = (*_KEYED, fmt.SYNAPSES_ROOTS)


__all__ = ["SnapshotError", "SnapshotSource", "expand_ranges"]


class SnapshotSource(SnapshotGraph, DataSource):
    """A :class:`~napari_crant.sources.base.DataSource` over a snapshot directory.

    Parameters
    ----------
    path
        The snapshot directory (it holds ``manifest.json``).
    name
        Dataset name shown to users; defaults to the manifest's name.
    """

    #: Reads are positioned reads and lookups in mapped files: any number of threads at once.
    concurrent_reads = True

    def __init__(self, path: str | Path, name: str | None = None):
        self.path = Path(path).expanduser().resolve()
        self.manifest = read_manifest(self.path)
        check_files(self.path, self.manifest)
        # Every file is mapped now: a snapshot replaced later (written aside and renamed into
        # place) leaves this source reading the files it opened, never a mix of old and new.
        # Keyed tables are mapped twice (address space only; the same page cache): for the
        # queries, advised random access, and plainly for whole-table readers (DuckDB).
        self._files: dict[str, pa.MemoryMappedFile] = {}
        self._keyed: dict[str, KeyedFile | None] = {}
        for filename in present_files(self.path):
            try:
                self._files[filename] = pa.memory_map(str(self.path / filename), "r")
            except (OSError, pa.ArrowException) as e:
                raise SnapshotError(f"{self.path / filename} cannot be opened ({e})") from None
            if filename in _KEYED:
                self._keyed[filename] = map_keyed(self.path / filename)
        self.info: dict[str, Any] = self.manifest.get("info", {})
        self.name = name or self.manifest.get("name") or self.path.name
        self._lock = threading.Lock()
        self._duckdb = None

    def preload(self) -> int:
        """Read the files queries use into the OS page cache, once, ahead of the queries.

        For a process that will query much of a large snapshot (a server, a whole-brain
        analysis): its queries then read memory, not disk. Without it, each query reads only
        the pages of its own rows, when it needs them (a snapshot of 10^8 synapses need not fit
        in memory). The pages stay the kernel's: they are not counted in this process's heap,
        and they may be dropped again under memory pressure.

        Returns
        -------
        int
            The bytes read (the query files' sizes).
        """
        return sum(page_in(self.path / name) for name in QUERY_FILES if name in self._files)

    # -- tables ---------------------------------------------------------------------------
    def _mapped(self, filename: str) -> MappedTable:
        """A table for queries (keyed tables: random access, prefetched rows)."""
        keyed = self._keyed.get(filename)
        return MappedTable(self.path / filename, self._files[filename] if keyed is None else keyed)

    def _scanned(self, filename: str) -> MappedTable:
        """A table for whole-table readers: the plain mapping (the OS reads ahead)."""
        return MappedTable(self.path / filename, self._files[filename])

    def _parquet_table(self, filename: str) -> pa.Table:
        try:
            return pq.read_table(self._files[filename])
        except (pa.ArrowInvalid, OSError) as e:
            raise SnapshotError(
                f"{self.path / filename} is damaged: not a readable Parquet file ({e})"
            ) from None

    @cached_property
    def _synapses(self) -> MappedTable:
        return self._mapped(fmt.SYNAPSES)

    @cached_property
    def _synapse_index(self) -> SynapseIndex:
        return SynapseIndex(
            self._synapses, self._mapped(fmt.SYNAPSES_POST), self._mapped(fmt.SYNAPSES_ROOTS),
            self._mapped(fmt.SYNAPSES_PRE_L2), self._mapped(fmt.SYNAPSES_POST_L2),
            self.manifest["layout"], self._l2_of_roots, self.roots_of_l2,
        )

    @cached_property
    def _root_l2(self) -> MappedTable:
        return self._mapped(fmt.ROOT_L2)

    @cached_property
    def _l2_roots(self) -> MappedTable:
        return self._mapped(fmt.L2_ROOTS)

    @cached_property
    def _l2(self) -> MappedTable:
        return self._mapped(fmt.L2)

    @cached_property
    def _supervoxels(self) -> MappedTable:
        return self._mapped(fmt.SUPERVOXELS)

    @cached_property
    def _skeleton_nodes(self) -> MappedTable | None:
        if fmt.SKELETON_NODES not in self._files:
            return None
        path = self.path / fmt.SKELETON_NODES
        table = self._mapped(fmt.SKELETON_NODES)
        missing = [c for c in OPTIONAL_SCHEMAS["skeleton_nodes"] if c not in table.arrow.column_names]
        if missing:
            raise SnapshotError(f"{path} lacks column(s) {missing}")
        return table

    def skeleton_nodes(self) -> pd.DataFrame | None:
        """The fine skeletons of the snapshot, or ``None`` if it has none (an optional file).

        Returns
        -------
        pandas.DataFrame or None
            One row per node, memory-mapped (read-only columns, nothing is read until used):
            ``x, y, z, radius_nm`` (float32 nm), ``parent`` (int64 row of the parent node,
            ``-1`` at a tree root), ``l2_id``, ``sv_id`` (uint64: the node's L2 chunk and one
            of its supervoxels) and ``compartment`` (int8). See ``docs/snapshot-format.md``.
        """
        table = self._skeleton_nodes
        if table is None:
            return None
        return pd.DataFrame({c: table[c] for c in OPTIONAL_SCHEMAS["skeleton_nodes"]}, copy=False)

    def _parquet(self, filename: str) -> pd.DataFrame:
        return self._parquet_table(filename).to_pandas()

    @cached_property
    def _roots(self) -> dict[str, np.ndarray]:
        t = self._parquet(fmt.ROOTS)
        created = t["created"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
        expired = t["expired"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
        exp = expired.to_numpy().astype(np.int64)
        exp[t["expired"].isna().to_numpy()] = fmt.NEVER_US
        return {
            "root_id": t["root_id"].to_numpy(np.uint64),
            "created_us": created.to_numpy().astype(np.int64),
            "expired_us": exp,
        }

    @cached_property
    def _versions(self) -> pd.DataFrame:
        v = self._parquet(fmt.VERSIONS)
        v["timestamp"] = v["timestamp"].dt.tz_convert("UTC")
        return v[["version", "timestamp", "valid"]].reset_index(drop=True)

    @cached_property
    def _l2_edges(self) -> MappedTable:
        return self._mapped(fmt.L2_EDGES)

    @cached_property
    def _annotations(self) -> pd.DataFrame:
        return self._parquet(fmt.ANNOTATIONS)

    @cached_property
    def _nuclei(self) -> pd.DataFrame:
        return self._parquet(fmt.NUCLEI)

    def lineage(self) -> pd.DataFrame:
        """The edit history: ``operation_id, timestamp, kind, parent_root_id, child_root_id``."""
        return self._parquet(fmt.LINEAGE)

    def neuropils(self) -> pd.DataFrame:
        """Named neuropil boxes in nm: ``name, x0, y0, z0, x1, y1, z1``."""
        return self._parquet(fmt.NEUROPILS)

    def roots_table(self) -> pd.DataFrame:
        """Every root that ever existed: ``root_id, created, expired, operation_id``."""
        return self._parquet(fmt.ROOTS)

    # -- DataSource -----------------------------------------------------------------------
    @cached_property
    def cache_key(self) -> str:
        return f"snapshot:{self.path}:{self.manifest.get('created', '')}"

    @cached_property
    def voxel_resolution(self) -> np.ndarray:
        return np.asarray(self.info.get("voxel_resolution", (8, 8, 42)), dtype=np.float64)

    def versions(self) -> pd.DataFrame:
        return self._versions.copy()

    @cached_property
    def _newest_version(self) -> tuple[pd.Timestamp, int] | None:
        return super().newest_version()

    def newest_version(self) -> tuple[pd.Timestamp, int] | None:
        return self._newest_version  # a snapshot's versions never change

    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.name, "source": "snapshot", "snapshot_path": str(self.path)}

    # -- tissue: the demo's synthetic EM and supervoxels, or the real sources of a cut ------
    @cached_property
    def _tissue(self) -> Any:
        from napari_crant.tissue.synthetic import snapshot_tissue

        return snapshot_tissue(self.path, self.name, self.info)

    def tissue_layer(self, kind: str) -> Any:
        return self._tissue.layer(kind)

    def em_cutout(self, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        return self._tissue.cutout("em", bbox_vox, mip)

    def segmentation_cutout(self, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        return self._tissue.cutout("segmentation", bbox_vox, mip)

    def _rows_for(self, roots: np.ndarray, side: str, at: Materialization | None = None) -> np.ndarray:
        """Rows of ``synapses.arrow`` whose ``side`` ('pre'/'post') chunk belongs to ``roots``
        (sorted, distinct): at ``at``, or (``None``) to any of the chunks they ever held."""
        index = self._synapse_index
        return index.pre_rows(roots, at) if side == "pre" else index.post_rows(roots, at)

    def synapse_columns(
        self,
        pre_ids: np.ndarray | None,
        post_ids: np.ndarray | None,
        at: Materialization,
        columns: tuple[str, ...] = ("id", "size"),
    ) -> dict[str, np.ndarray]:
        if pre_ids is None and post_ids is None:
            raise ValueError("give pre_ids, post_ids or both")
        pre = None if pre_ids is None else self._alive(pre_ids, at)
        post = None if post_ids is None else self._alive(post_ids, at)
        return self._synapse_index.columns(pre, post, at, columns)

    def partner_roots(
        self, root: int, at: Materialization, sides: tuple[str, ...] = ("pre", "post")
    ) -> dict[str, np.ndarray]:
        if not self.one_root_status(root, at)[1]:
            return {side: np.zeros(0, np.uint64) for side in sides}
        partners = self._synapse_index.one_root_partners(root, at, sides)
        return partners if partners is not None else super().partner_roots(root, at, sides)

    def _alive(self, ids: np.ndarray, at: Materialization) -> np.ndarray:
        """The distinct ``ids`` that are roots alive at ``at``, sorted (others hold no synapses then)."""
        ids = np.asarray(ids, dtype=np.uint64)
        if len(ids) > 1:
            ids = sorted_unique(ids)
        return ids[self.root_status(ids, at)[1]]

    def synapse_rows(self, rows: np.ndarray, at: Materialization, positions: bool = True) -> pd.DataFrame:
        """Build the synapse DataFrame (:data:`SYNAPSE_COLUMNS`) for ``rows`` at ``at``."""
        s = self._synapses
        rows = np.asarray(rows, dtype=np.int64)
        res = self.voxel_resolution
        pre_root, post_root = self._synapse_index.roots_of_rows(rows, at)
        data: dict[str, np.ndarray] = {
            "id": s["id"][rows],
            "pre_pt_root_id": pre_root,
            "post_pt_root_id": post_root,
            "pre_pt_supervoxel_id": s["pre_pt_supervoxel_id"][rows],
            "post_pt_supervoxel_id": s["post_pt_supervoxel_id"][rows],
            "size": s["size"][rows].astype(np.int64),
        }
        if not positions:
            return pd.DataFrame(data)
        for p in ("pre", "post", "ctr"):
            for i, a in enumerate("xyz"):
                data[f"{p}_pt_position_{a}"] = s[f"{p}_pt_position_{a}"][rows] * res[i]
        return pd.DataFrame(data, columns=list(SYNAPSE_COLUMNS))

    def synapses(
        self,
        pre_ids: np.ndarray | None,
        post_ids: np.ndarray | None,
        at: Materialization,
        positions: bool = True,
    ) -> pd.DataFrame:
        if pre_ids is None and post_ids is None:
            raise ValueError("give pre_ids, post_ids or both")
        pre = None if pre_ids is None else self._alive(pre_ids, at)
        post = None if post_ids is None else self._alive(post_ids, at)
        if pre is not None and (post is None or len(pre) <= len(post)):
            rows = self._rows_for(pre, "pre", at)  # read from the smaller side, filter by the other
        else:
            rows = self._rows_for(post, "post", at)
        df = self.synapse_rows(rows, at, positions)
        keep = np.ones(len(df), dtype=bool)
        if pre is not None:
            keep &= in_sorted(df["pre_pt_root_id"].to_numpy(), pre)
        if post is not None:
            keep &= in_sorted(df["post_pt_root_id"].to_numpy(), post)
        df = df[keep]
        return df.sort_values("id", kind="stable").reset_index(drop=True)

    def annotations(self) -> pd.DataFrame:
        return self._annotations.copy()

    def nuclei(self) -> pd.DataFrame:
        return self._nuclei.copy()

    # -- DuckDB ---------------------------------------------------------------------------
    def sql(self, query: str) -> pd.DataFrame:
        """Run a DuckDB SQL query over the snapshot's tables (read-only views).

        Views: ``synapses``, ``synapses_post``, ``synapses_roots``, ``synapses_pre_l2``,
        ``synapses_post_l2``, ``root_l2``, ``l2_roots``, ``l2``, ``supervoxels``, ``versions``,
        ``roots``, ``lineage``, ``l2_edges``, ``annotations``, ``nuclei``, ``neuropils``, and
        ``skeleton_nodes`` if the snapshot has it.
        """
        import duckdb

        with self._lock:
            if self._duckdb is None:
                con = duckdb.connect()
                for fname in (fmt.SYNAPSES, fmt.ROOT_L2, fmt.L2_ROOTS, fmt.L2, fmt.SUPERVOXELS,
                              fmt.L2_EDGES, fmt.SYNAPSES_POST, fmt.SYNAPSES_ROOTS,
                              fmt.SYNAPSES_PRE_L2, fmt.SYNAPSES_POST_L2):
                    con.register(Path(fname).stem, self._scanned(fname).arrow)
                if self._skeleton_nodes is not None:
                    con.register(Path(fmt.SKELETON_NODES).stem, self._skeleton_nodes.arrow)
                for fname in (fmt.VERSIONS, fmt.ROOTS, fmt.LINEAGE, fmt.ANNOTATIONS, fmt.NUCLEI,
                              fmt.NEUROPILS):
                    con.register(Path(fname).stem, self._parquet_table(fname))
                self._duckdb = con
            return self._duckdb.execute(query).df()

    # -- meshes: generated from the skeleton nodes and neuropil boxes (tissue/snapshot_meshes)
    @cached_property
    def _meshes(self) -> Any:
        from napari_crant.tissue.snapshot_meshes import SnapshotMeshes

        return SnapshotMeshes(self.name, self.skeleton_nodes(), self.neuropils())

    def root_mesh(self, root_id: int, at: Materialization) -> Any:
        return self._meshes.root_mesh(self.l2_ids(int(root_id)), int(root_id))

    def neuropil_meshes(self) -> dict[str, Any]:
        return self._meshes.neuropil_meshes()

    def brain_mesh(self) -> Any:
        return self._meshes.brain_mesh()
