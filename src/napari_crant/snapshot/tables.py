"""The in-memory form of a snapshot: what a generator or a CAVE download hands to the writer.

The model is the chunkedgraph's: synapses are attached to *supervoxels*; supervoxels are
grouped into level-2 (L2) chunks; a *root* is an immutable set of L2 chunks, created by an
edit operation and expired by a later one. Which root a supervoxel belongs to at time ``t``
is therefore "the root containing its L2 chunk that was alive at ``t``". Materialization
versions are timestamps at which root IDs were frozen.

Conventions (checked by :meth:`SnapshotTables.validate`):

- every ID column is ``uint64``; ``0`` means "no segment";
- every supervoxel belongs to exactly one L2 chunk (table ``supervoxels``), for all time;
- timestamps are ``datetime64[us, UTC]``; ``roots.expired`` is ``NaT`` for current roots;
- synapse positions are integer voxel coordinates at ``voxel_resolution`` (nm per voxel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.snapshot.format import ANNOTATION_FIELDS

_UTC = "datetime64[us, UTC]"

#: column -> dtype (``"datetime"`` means tz-aware UTC, ``"str"`` object strings).
SCHEMAS: dict[str, dict[str, str]] = {
    "versions": {"version": "int64", "timestamp": "datetime", "valid": "bool"},
    "roots": {
        "root_id": "uint64",
        "created": "datetime",
        "expired": "datetime",
        "operation_id": "int64",
    },
    "root_l2": {"root_id": "uint64", "l2_id": "uint64"},
    "l2": {
        "l2_id": "uint64",
        "x": "float64",
        "y": "float64",
        "z": "float64",
        "max_dt_nm": "float64",
        "size_nm3": "float64",
    },
    "supervoxels": {"sv_id": "uint64", "l2_id": "uint64"},
    "l2_edges": {"l2_a": "uint64", "l2_b": "uint64"},
    "lineage": {
        "operation_id": "int64",
        "timestamp": "datetime",
        "kind": "str",
        "parent_root_id": "uint64",
        "child_root_id": "uint64",
    },
    "synapses": {
        "id": "uint64",
        "pre_pt_supervoxel_id": "uint64",
        "post_pt_supervoxel_id": "uint64",
        "size": "int64",
        **{
            f"{p}_pt_position_{a}": "int64"
            for p in ("pre", "post", "ctr")
            for a in "xyz"
        },
    },
    "nuclei": {
        "nucleus_id": "uint64",
        "supervoxel_id": "uint64",
        "x": "float64",
        "y": "float64",
        "z": "float64",
        "volume_um3": "float64",
    },
    "neuropils": {
        "name": "str",
        **{c: "float64" for c in ("x0", "y0", "z0", "x1", "y1", "z1")},
    },
}


#: Optional tables (``None`` when a snapshot has none): column -> dtype.
OPTIONAL_SCHEMAS: dict[str, dict[str, str]] = {
    "skeleton_nodes": {
        "x": "float32",
        "y": "float32",
        "z": "float32",
        "radius_nm": "float32",
        "parent": "int64",
        "l2_id": "uint64",
        "sv_id": "uint64",
        "compartment": "int8",
    },
}


class SnapshotTableError(ValueError):
    """A snapshot table does not follow the format."""


@dataclass
class SnapshotTables:
    """All tables of one snapshot, in memory.

    Parameters
    ----------
    info
        Free metadata: ``name``, ``description``, ``voxel_resolution`` (3 floats, nm),
        ``synapse_table`` (name), ``source`` (e.g. ``"demo"`` or a CAVE datastack),
        ``pcg_table``, anything else JSON-serialisable.
    versions
        Materialization versions: ``version, timestamp, valid``.
    roots
        Every root ID that ever existed: ``root_id, created, expired, operation_id``.
    root_l2
        Membership of L2 chunks in roots (every root, every chunk): ``root_id, l2_id``.
    l2
        One row per L2 chunk: ``l2_id``, representative point ``x, y, z`` (nm),
        ``max_dt_nm`` (distance to boundary, a radius) and ``size_nm3``.
    supervoxels
        ``sv_id, l2_id``: the L2 chunk of every supervoxel that synapses, annotations or
        nuclei refer to (more are allowed).
    l2_edges
        Contacts between L2 chunks (``l2_a < l2_b``). A root's L2 graph is the subgraph
        induced by its chunks.
    lineage
        Edit history, one row per parent -> child link: ``operation_id, timestamp, kind``
        (``"merge"`` or ``"split"``), ``parent_root_id, child_root_id``.
    synapses
        ``id``, pre/post supervoxel, ``size`` and integer voxel positions.
    annotations
        CRANTb annotation fields (see :data:`~napari_crant.snapshot.format.ANNOTATION_FIELDS`);
        ``root_id`` is as of annotation time and may be outdated, ``supervoxel_id`` is stable.
    nuclei
        Somata: ``nucleus_id, supervoxel_id, x, y, z`` (nm), ``volume_um3``.
    neuropils
        Named boxes in nm: ``name, x0, y0, z0, x1, y1, z1``.
    skeleton_nodes
        Optional fine skeletons, one row per node: ``x, y, z, radius_nm`` (float32 nm),
        ``parent`` (int64 row of the parent node, ``-1`` at a tree root; parents come before
        their children), ``l2_id`` (the node's L2 chunk), ``sv_id`` (a supervoxel of that
        chunk) and ``compartment`` (int8 code; the demo's: 0 soma, 1 neurite, 2 dendrite,
        3 axon). ``None`` when the snapshot has none.
    """

    info: dict[str, Any]
    versions: pd.DataFrame
    roots: pd.DataFrame
    root_l2: pd.DataFrame
    l2: pd.DataFrame
    supervoxels: pd.DataFrame
    l2_edges: pd.DataFrame
    lineage: pd.DataFrame
    synapses: pd.DataFrame
    annotations: pd.DataFrame
    nuclei: pd.DataFrame = field(default_factory=lambda: empty_table("nuclei"))
    neuropils: pd.DataFrame = field(default_factory=lambda: empty_table("neuropils"))
    skeleton_nodes: pd.DataFrame | None = None

    def validate(self) -> SnapshotTables:
        """Check dtypes and invariants; raise :class:`SnapshotTableError` naming the problem.

        Returns
        -------
        SnapshotTables
            ``self``, so calls can be chained.
        """
        for name in SCHEMAS:
            check_columns(name, getattr(self, name))
        check_columns("annotations", self.annotations)
        if "voxel_resolution" not in self.info or len(self.info["voxel_resolution"]) != 3:
            raise SnapshotTableError("info['voxel_resolution'] must hold 3 numbers (nm per voxel)")
        if self.roots["root_id"].duplicated().any():
            raise SnapshotTableError("table 'roots' has duplicate root_id values")
        if self.l2["l2_id"].duplicated().any():
            raise SnapshotTableError("table 'l2' has duplicate l2_id values")
        if self.synapses["id"].duplicated().any():
            raise SnapshotTableError("table 'synapses' has duplicate id values")
        if self.supervoxels["sv_id"].duplicated().any():
            raise SnapshotTableError("table 'supervoxels' lists a supervoxel twice")
        if not self.supervoxels["l2_id"].isin(self.l2["l2_id"]).all():
            raise SnapshotTableError("table 'supervoxels' names L2 chunks missing from 'l2'")
        known_sv = pd.Index(self.supervoxels["sv_id"])
        for col in ("pre_pt_supervoxel_id", "post_pt_supervoxel_id"):
            sv = self.synapses[col]
            bad = sv[(sv != 0) & ~sv.isin(known_sv)]
            if len(bad):
                raise SnapshotTableError(
                    f"table 'synapses' column {col!r} names supervoxel {int(bad.iloc[0])} "
                    "missing from 'supervoxels'"
                )
        if not self.root_l2["root_id"].isin(self.roots["root_id"]).all():
            raise SnapshotTableError("table 'root_l2' names roots missing from 'roots'")
        if not self.root_l2["l2_id"].isin(self.l2["l2_id"]).all():
            raise SnapshotTableError("table 'root_l2' names L2 chunks missing from 'l2'")
        if self.versions.empty:
            raise SnapshotTableError("table 'versions' is empty: a snapshot needs a version")
        if self.skeleton_nodes is not None:
            self._validate_skeleton_nodes()
        return self

    def _validate_skeleton_nodes(self) -> None:
        nodes = self.skeleton_nodes
        for col, kind in OPTIONAL_SCHEMAS["skeleton_nodes"].items():
            if col not in nodes.columns:
                raise SnapshotTableError(f"table 'skeleton_nodes' lacks column {col!r}")
            _check_dtype("skeleton_nodes", col, nodes[col], kind)
        parent = nodes["parent"].to_numpy()
        row = np.arange(len(parent))
        bad = np.flatnonzero((parent < -1) | (parent >= row))
        if len(bad):
            raise SnapshotTableError(
                f"table 'skeleton_nodes' row {int(bad[0])} has parent {int(parent[bad[0]])}: "
                "a parent must be -1 or an earlier row"
            )
        l2 = nodes["l2_id"].to_numpy()
        known_l2 = np.sort(self.l2["l2_id"].to_numpy(np.uint64))
        pos = np.minimum(np.searchsorted(known_l2, l2), max(len(known_l2) - 1, 0))
        missing = (known_l2[pos] != l2) if len(known_l2) else np.ones(len(l2), bool)
        if missing.any():
            raise SnapshotTableError(
                f"table 'skeleton_nodes' names L2 chunk {int(l2[missing][0])} missing from 'l2'"
            )
        sv = nodes["sv_id"].to_numpy()
        by_sv = np.argsort(self.supervoxels["sv_id"].to_numpy(np.uint64), kind="stable")
        sv_sorted = self.supervoxels["sv_id"].to_numpy(np.uint64)[by_sv]
        l2_of_sv = self.supervoxels["l2_id"].to_numpy(np.uint64)[by_sv]
        pos = np.minimum(np.searchsorted(sv_sorted, sv), max(len(sv_sorted) - 1, 0))
        missing = (sv_sorted[pos] != sv) if len(sv_sorted) else np.ones(len(sv), bool)
        if missing.any():
            raise SnapshotTableError(
                f"table 'skeleton_nodes' names supervoxel {int(sv[missing][0])} missing from "
                "'supervoxels'"
            )
        wrong = np.flatnonzero(l2_of_sv[pos] != l2)
        if len(wrong):
            i = int(wrong[0])
            raise SnapshotTableError(
                f"table 'skeleton_nodes' row {i}: supervoxel {int(sv[i])} belongs to L2 chunk "
                f"{int(l2_of_sv[pos[i]])}, not to the row's L2 chunk {int(l2[i])}"
            )


def check_columns(name: str, df: pd.DataFrame) -> None:
    """Check that table ``name`` has its columns, with their dtypes.

    Parameters
    ----------
    name
        A table of :data:`SCHEMAS`, or ``"annotations"`` (CRANTb fields).
    df
        The table.

    Raises
    ------
    SnapshotTableError
        Naming the missing column, the wrong dtype or the unknown annotation field.
    """
    if name == "annotations":
        missing = [f for f in ("root_id", "supervoxel_id") if f not in df]
        if missing:
            raise SnapshotTableError(f"table 'annotations' lacks column(s) {missing}")
        unknown = set(df.columns) - set(ANNOTATION_FIELDS) - {"x", "y", "z"}
        if unknown:
            raise SnapshotTableError(f"table 'annotations' has unknown column(s) {sorted(unknown)}")
        return
    for col, kind in SCHEMAS[name].items():
        if col not in df.columns:
            raise SnapshotTableError(f"table {name!r} lacks column {col!r}")
        _check_dtype(name, col, df[col], kind)


def empty_table(name: str) -> pd.DataFrame:
    """An empty DataFrame with the columns and dtypes of table ``name``."""
    cols = {}
    for col, kind in SCHEMAS[name].items():
        if kind == "datetime":
            cols[col] = pd.Series([], dtype=_UTC)
        elif kind == "str":
            cols[col] = pd.Series([], dtype=object)
        else:
            cols[col] = pd.Series([], dtype=kind)
    return pd.DataFrame(cols)


def _check_dtype(table: str, col: str, s: pd.Series, kind: str) -> None:
    if kind == "datetime":
        ok = isinstance(s.dtype, pd.DatetimeTZDtype) and str(s.dtype.tz) == "UTC"
    elif kind == "str":
        ok = s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
    elif kind == "float64":
        ok = pd.api.types.is_float_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype)
    elif kind == "bool":
        ok = pd.api.types.is_bool_dtype(s.dtype)
    else:
        ok = s.dtype == np.dtype(kind)
    if not ok:
        raise SnapshotTableError(
            f"table {table!r} column {col!r} has dtype {s.dtype}, expected {kind}"
        )
