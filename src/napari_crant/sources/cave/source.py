"""The CAVE source: CRANTb (or any CAVE datastack) over the network through caveclient.

:class:`CaveSource` answers the :class:`~napari_crant.sources.base.DataSource` questions with an
unmodified ``caveclient.CAVEclient`` (held by a
:class:`~napari_crant.sources.cave.client.CaveConnection`, through which every request goes):

- materialization version ``v``: ``query_table(..., materialization_version=v)``;
  a timestamp (``'live'``): ``live_live_query(table, timestamp)``; both never truncated, see
  :class:`~napari_crant.sources.cave.tables.TableReader`;
- root status, roots of supervoxels and L2 chunks, L2 chunks of roots, the L2 graph and
  attributes, lineage: the chunkedgraph and L2 cache primitives of
  :class:`~napari_crant.sources.cave.chunkedgraph.ChunkedGraphPrimitives`.

Annotations can come from a local file or snapshot, or from a CAVE table
(``annotation_source="cave:<table_name>"``, see :mod:`napari_crant.sources.cave.annotations`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pandas as pd

import napari_crant.sources.cave.annotations as cave_annotations
from napari_crant.materialization import Materialization
from napari_crant.sources.base import SYNAPSE_COLUMNS, DataSource
from napari_crant.sources.cave.cached import (
    NEVER,
    VERSION_FACTS,
    pinned_version_timestamp,
    remember_versions,
    stored_synapse_columns,
    with_persistent_cache,
)
from napari_crant.sources.cave.chunkedgraph import ChunkedGraphPrimitives
from napari_crant.sources.cave.client import CaveConnection
from napari_crant.sources.cave.config import CaveDatasetConfig, cave_dataset_config, registered_token
from napari_crant.sources.cave.errors import CaveError, CaveNotFoundError
from napari_crant.sources.cave.meshes import CaveMeshes
from napari_crant.sources.cave.tables import TableReader, synapse_frame, to_uint64
from napari_crant.sources.cave.tissue import cave_tissue, tissue_urls
from napari_crant.sources.cave.tokens import Secret, redact


def _utc(value: Any) -> pd.Timestamp:
    """A timestamp of the version list as UTC (naive ones are UTC)."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@with_persistent_cache  # answers that never change are kept on disk: see sources/cave/cached.py
class CaveSource(ChunkedGraphPrimitives, DataSource):
    """A :class:`~napari_crant.sources.base.DataSource` over a CAVE deployment.

    Parameters
    ----------
    config
        Which server, datastack and tables (see
        :class:`~napari_crant.sources.cave.config.CaveDatasetConfig`).
    auth_token
        Explicit token; by default caveclient reads the saved one.
    client
        An existing ``CAVEclient`` to use instead of building one.
    """

    def __init__(self, config: CaveDatasetConfig, auth_token: str | Secret | None = None,
                 client: Any = None):
        self.config = config
        self.name = config.name
        self.connection = CaveConnection(config, auth_token, client)
        self._tables = TableReader(self.connection)
        self._cap = self._tables.cap
        self._lock = threading.RLock()
        self._versions_cache: tuple[float, pd.DataFrame] | None = None
        self._resolution: np.ndarray | None = None
        self._table_resolution: np.ndarray | None = None
        self._annotations_df: pd.DataFrame | None = None
        self._annotations_at = 0.0
        self._meshes = CaveMeshes(self)
        self._tissue: Any = None

    def __repr__(self) -> str:
        return redact(f"CaveSource({self.name!r}, {self.config.server_address}, {self.config.datastack})")

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The ``CAVEclient`` (built on first use)."""
        return self.connection.client

    @property
    def _mat(self) -> Any:
        return self.connection.service("materialize")

    def reset_row_cap(self) -> None:
        """Forget what was learnt about the server's row cap (e.g. after the server changed it)."""
        self._tables.reset_row_cap()

    # -- DataSource basics ------------------------------------------------------------------------
    @property
    def cache_key(self) -> str:
        key = f"cave:{self.config.server_address}:{self.config.datastack}:{self.config.synapse_table}"
        # answers that use annotations (update_ids, layers) depend on where they come from
        ann = self.config.annotation_source
        return f"{key}:annotations={ann}" if ann else key

    @property
    def voxel_resolution(self) -> np.ndarray:
        """nm per image voxel: the datastack's viewer resolution (8 x 8 x 42 on CRANTb).

        Falls back to the synapse table's resolution where the datastack does not give one.
        """
        if self._resolution is None:
            info = self.connection.service("info")
            res = self._run("datastack info", lambda: info.viewer_resolution())
            res = np.asarray(res if res is not None else [None] * 3, dtype=object)
            if any(r is None for r in res) or not all(float(r) > 0 for r in res):
                res = self.table_resolution
            self._resolution = np.asarray(res, dtype=np.float64)
        return self._resolution.copy()

    @property
    def table_resolution(self) -> np.ndarray:
        """nm per unit of the synapse table's positions, from the table's metadata.

        1 x 1 x 1 on CRANTb (``synapses_v2`` holds nm), 8 x 8 x 42 if a table holds voxels.
        """
        if self._table_resolution is None:
            mat = self._mat
            md = self._run("table metadata", lambda: mat.get_table_metadata(
                self.config.synapse_table, log_warning=False))
            res = md.get("voxel_resolution")
            if not res or any(r is None for r in res):
                raise self.connection.bad_answer(
                    "reading table metadata", f"table {self.config.synapse_table!r} has no voxel resolution")
            self._table_resolution = np.asarray(res, dtype=np.float64)
        return self._table_resolution.copy()

    def versions(self) -> pd.DataFrame:
        with self._lock:
            if self._versions_cache is not None and time.monotonic() - self._versions_cache[0] < 300:
                return self._versions_cache[1].copy()
        mat = self._mat
        fn = getattr(type(mat).get_versions_metadata, "__wrapped__", None)  # bypass caveclient's 12 h cache
        meta = self._run("listing versions", (lambda: fn(mat, expired=True)) if fn else (
            lambda: mat.get_versions_metadata(expired=True)))
        if not isinstance(meta, list):
            raise self.connection.bad_answer("listing versions", "the version list is malformed")
        now = pd.Timestamp.now(tz="UTC")
        rows, facts = [], []
        for m in meta:
            expires = m.get("expires_on")
            expires_at = None if expires is None else _utc(expires)
            expired = expires_at is not None and expires_at < now
            rows.append({"version": int(m["version"]), "timestamp": pd.Timestamp(m["time_stamp"]),
                         "valid": bool(m.get("valid", True)) and not expired})
            facts.append((rows[-1]["version"], _utc(m["time_stamp"]).value // 1000,  # value: ns
                           NEVER if expires_at is None else expires_at.value // 1000,
                           int(bool(m.get("valid", True)))))
        df = pd.DataFrame(rows, columns=["version", "timestamp", "valid"])
        df["version"] = df["version"].astype(np.int64)
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[us, UTC]")
        df["valid"] = df["valid"].astype(bool)
        df = df.sort_values("version").reset_index(drop=True)
        with self._lock:
            self._versions_cache = (time.monotonic(), df)
        remember_versions(self, np.array(facts, dtype=np.int64).reshape(-1, len(VERSION_FACTS)))
        return df.copy()

    def version_timestamp(self, version: int) -> pd.Timestamp | None:
        """A pinned version's moment from the version list kept on disk (no request, even after a
        restart) while the server's last list says it is valid and its expiry has not passed;
        otherwise from :meth:`versions` (see ``DataSource.version_timestamp``)."""
        known = pinned_version_timestamp(self, version)
        return known if known is not None else super().version_timestamp(version)

    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.name, "source": "cave", "server": self.config.server_address,
                "datastack": self.config.datastack, "synapse_table": self.config.synapse_table}

    # -- materialization --------------------------------------------------------------------------
    def synapses(self, pre_ids: np.ndarray | None, post_ids: np.ndarray | None,
                 at: Materialization, positions: bool = True) -> pd.DataFrame:
        df = self._synapses(pre_ids, post_ids, at)
        if not positions:
            df = df.drop(columns=[c for c in SYNAPSE_COLUMNS if "_position_" in c])
        return df

    def synapse_columns(self, pre_ids: np.ndarray | None, post_ids: np.ndarray | None,
                        at: Materialization, columns: tuple[str, ...] = ("id", "size")
                        ) -> dict[str, np.ndarray]:
        """The rows of :meth:`synapses` as arrays (see ``DataSource.synapse_columns``).

        A kept answer (pinned version) is read in place and only these four columns are copied:
        no frame is copied, trimmed or built (the hot path of a second look, and of the first
        look after a restart).
        """
        names = ("id", "pre_pt_root_id", "post_pt_root_id", "size")
        kept = stored_synapse_columns(self, pre_ids, post_ids, at, names)
        if kept is None:
            df = self._synapses(pre_ids, post_ids, at)  # asks the server, keeps the answer
            kept = {c: df[c].to_numpy() for c in names}
        return {c: np.array(kept[c], dtype=np.int64 if c == "size" else np.uint64) for c in names}

    def _synapses(self, pre_ids: np.ndarray | None, post_ids: np.ndarray | None,
                  at: Materialization) -> pd.DataFrame:
        if pre_ids is None and post_ids is None:
            raise ValueError("give pre_ids, post_ids or both")
        pre = None if pre_ids is None else np.unique(np.asarray(pre_ids, dtype=np.uint64))
        post = None if post_ids is None else np.unique(np.asarray(post_ids, dtype=np.uint64))
        if pre is not None and (post is None or len(pre) <= len(post)):
            col, ids, other, other_col = "pre_pt_root_id", pre, post, "post_pt_root_id"
        else:
            col, ids, other, other_col = "post_pt_root_id", post, pre, "pre_pt_root_id"
        extra = {}
        if other is not None and len(other) <= self.config.id_batch:
            extra[other_col] = [int(x) for x in other]
        try:
            parts = self._tables.query_all(self.config.synapse_table, col, ids, extra, at) if len(ids) else []
        except CaveNotFoundError as e:
            raise CaveNotFoundError(self._unknown_table_message(self.config.synapse_table, str(e))) from None
        df = synapse_frame(parts, self.table_resolution, self.name)
        keep = np.ones(len(df), dtype=bool)
        if pre is not None:
            keep &= np.isin(df["pre_pt_root_id"].to_numpy(), pre)
        if post is not None:
            keep &= np.isin(df["post_pt_root_id"].to_numpy(), post)
        df = df[keep].drop_duplicates("id")
        return df.sort_values("id", kind="stable").reset_index(drop=True)

    def _unknown_table_message(self, table: str, error: str) -> str:
        """``error`` (a 404 during a query of ``table``), naming the tables the server has."""
        mat = self._mat
        try:
            tables = self._run("listing tables", lambda: mat.get_tables())
        except CaveError:
            return error
        listed = ", ".join(str(t) for t in tables) if isinstance(tables, list) else "?"
        return (f"{self.name}: table {table!r} not found on the server; its tables: {listed} "
                f"(set synapse_table in the dataset's configuration). {error}")

    # -- annotations and nuclei ---------------------------------------------------------------------
    def annotations(self) -> pd.DataFrame:
        """The annotation table (see ``annotation_source`` in :class:`CaveDatasetConfig`).

        From a CAVE table (``"cave:<table>"``): read at the latest valid version and cached for
        :data:`~napari_crant.sources.cave.annotations.ANNOTATION_CACHE_S` seconds; ``root_id`` is
        the root at that version.
        """
        source = self.config.annotation_source
        table = cave_annotations.cave_table_name(source)
        with self._lock:
            age = time.monotonic() - self._annotations_at
            fresh = table is None or age < cave_annotations.ANNOTATION_CACHE_S
            if self._annotations_df is not None and fresh:
                return self._annotations_df.copy()
        df = (self._annotation_table(table) if table is not None
              else cave_annotations.read_annotation_file(source))
        with self._lock:
            self._annotations_df, self._annotations_at = df, time.monotonic()
            return df.copy()

    def clear_annotation_cache(self) -> None:
        """Forget the cached annotation table (the next :meth:`annotations` re-reads it)."""
        with self._lock:
            self._annotations_df, self._annotations_at = None, 0.0

    def _annotation_table(self, table: str) -> pd.DataFrame:
        return cave_annotations.read_annotation_table(self._tables, self.versions(), table)

    def nuclei(self) -> pd.DataFrame:
        table = self.config.nucleus_table
        if not table:
            return super().nuclei()
        pages = self._tables.read_whole(table, f"querying {table}")
        if not pages:
            return super().nuclei()
        df = pd.concat(pages, ignore_index=True).sort_values("id", kind="stable").reset_index(drop=True)
        if df["id"].duplicated().any():
            raise self.connection.bad_answer(f"paging through {table!r}", "pages overlap (unstable order)")
        out = pd.DataFrame({
            "nucleus_id": to_uint64(df["id"], "id"),
            "supervoxel_id": to_uint64(df["pt_supervoxel_id"], "pt_supervoxel_id"),
            **{a: df[f"pt_position_{a}"].to_numpy(np.float64) for a in "xyz"},
        })
        if "volume" in df:
            out["volume_um3"] = df["volume"].to_numpy(np.float64)
        return out

    # -- meshes (napari_crant.sources.cave.meshes) ------------------------------------------------
    def root_mesh(self, root_id: int, at: Materialization) -> Any:
        return self._meshes.root_mesh(int(root_id))

    def neuropil_meshes(self) -> dict[str, Any]:
        return self._meshes.neuropil_meshes(self.config.neuropil_mesh_source)

    def brain_mesh(self) -> Any:
        return self._meshes.brain_mesh(self.config.brain_mesh_source)

    # -- tissue (napari_crant.sources.cave.tissue) -------------------------------------------
    def tissue_urls(self) -> dict[str, str]:
        """The datastack's ``image_source`` and ``segmentation_source`` URLs (recorded by cuts)."""
        return tissue_urls(self)

    def tissue_layer(self, kind: str) -> Any:
        with self._lock:
            if self._tissue is None:
                self._tissue = cave_tissue(self)
        return self._tissue.layer(kind)

    def em_cutout(self, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        self.tissue_layer("em")
        return self._tissue.cutout("em", bbox_vox, mip)

    def segmentation_cutout(self, bbox_vox: np.ndarray, mip: int) -> np.ndarray:
        self.tissue_layer("segmentation")
        return self._tissue.cutout("segmentation", bbox_vox, mip)

    def config_dict(self) -> dict[str, Any]:
        """The configuration as a plain dict (no token)."""
        return asdict(self.config)


def open_cave_dataset(name: str, auth_token: str | None = None, **overrides: Any) -> CaveSource:
    """Open CAVE dataset ``name`` (``"latest"``, ``"sandbox"`` or a registered one).

    Parameters
    ----------
    name
        Dataset name.
    auth_token
        Token to use instead of the one registered with the dataset or the one caveclient finds
        in ``~/.cloudvolume/secrets``.
    **overrides
        :class:`CaveDatasetConfig` fields to change (e.g. ``timeout``).

    Returns
    -------
    CaveSource
    """
    cfg = cave_dataset_config(name)
    token: str | Secret | None = auth_token if auth_token is not None else registered_token(name)
    if overrides:
        cfg = replace(cfg, **overrides)
    return CaveSource(cfg, auth_token=token)
