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

    def validate(self) -> SnapshotTables:
        """Check dtypes and invariants; raise :class:`SnapshotTableError` naming the problem.

        Returns
        -------
        SnapshotTables
            ``self``, so calls can be chained.
        """
        for name, schema in SCHEMAS.items():
            df = getattr(self, name)
            for col, kind in schema.items():
                if col not in df.columns:
                    raise SnapshotTableError(f"table {name!r} lacks column {col!r}")
                _check_dtype(name, col, df[col], kind)
        missing = [f for f in ("root_id", "supervoxel_id") if f not in self.annotations]
        if missing:
            raise SnapshotTableError(f"table 'annotations' lacks column(s) {missing}")
        unknown = set(self.annotations.columns) - set(ANNOTATION_FIELDS) - {"x", "y", "z"}
        if unknown:
            raise SnapshotTableError(f"table 'annotations' has unknown column(s) {sorted(unknown)}")
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
        return self


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
