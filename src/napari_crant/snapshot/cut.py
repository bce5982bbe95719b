"""Cut a small offline snapshot of chosen neurons out of any source (CAVE or another snapshot).

The cut holds, for the chosen neurons as of the chosen materialization *and* as of now:

- their roots and every root of their edit history (as far as the source's lineage tells),
  with each root's L2 chunks, L2 attributes and L2 graph edges;
- all their synapses (pre and post), with the partners' roots and the partners' edit history,
  so connectivity, adjacency, synapse counts and ``update_ids`` of the chosen neurons come out
  as from the source; with ``with_partners`` also the partners' L2 attributes and graphs (their
  skeletons) and annotations;
- the annotation rows and nuclei of the kept neurons, all materialization versions, and the
  neuropil boxes when the source has them.

Results for the chosen neurons match the source at the cut's materialization and at the time
of the cut; at other versions synapses that the neurons had only then are missing.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.ids import parse_ids, unique_in_order
from napari_crant.materialization import Materialization, MaterializationLike, resolve_materialization
from napari_crant.snapshot.tables import SnapshotTables, empty_table
from napari_crant.snapshot.writer import write_snapshot
from napari_crant.sources.base import DataSource

_U = np.uint64
_POS = [f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz"]


def cut_snapshot(
    source: DataSource,
    ids: Any,
    out: str | os.PathLike,
    materialization: MaterializationLike = "latest",
    with_partners: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write a snapshot directory holding the neurons ``ids`` (see module docs for what is kept).

    Parameters
    ----------
    source
        Where to read from (a :class:`~napari_crant.sources.cave.CaveSource`, a snapshot...).
    ids
        Root IDs of the neurons (outdated IDs are mapped to their roots first).
    out
        Directory to write.
    materialization
        The moment the neurons are taken at (``'latest'``, ``'live'``, a version, a time);
        the time of the cut is always included as well.
    with_partners
        Also keep the synaptic partners' L2 attributes, L2 graphs and annotations.
    overwrite
        Replace an existing directory.

    Returns
    -------
    Path
        The snapshot directory.
    """
    from napari_crant.queries.update import resolve_ids

    given = unique_in_order(parse_ids(ids, "ids"))
    moments = [resolve_materialization(source, materialization)]
    now = Materialization(pd.Timestamp(source.now()), None, "live")
    if moments[0].version is not None or moments[0].timestamp != now.timestamp:
        moments.append(now)

    neuron_roots: set[int] = set()
    partner_roots: set[int] = set()
    syn_parts = []
    for at in moments:
        mapping = resolve_ids(source, given, at, update=True, name="ids")
        roots = unique_in_order(mapping["new_id"].to_numpy(_U))
        neuron_roots.update(int(r) for r in roots)
        for pre, post in ((roots, None), (None, roots)):
            syn = source.synapses(pre, post, at)
            syn_parts.append(syn)
            for col in ("pre_pt_root_id", "post_pt_root_id"):
                partner_roots.update(int(r) for r in syn[col].to_numpy(_U) if r != 0)
    partner_roots -= neuron_roots
    synapses = pd.concat(syn_parts, ignore_index=True).drop_duplicates("id").sort_values("id")

    all_nodes, links = _history(source, np.array(sorted(neuron_roots | partner_roots), _U))
    links = links.drop_duplicates().reset_index(drop=True)
    roots_df = _roots_table(all_nodes, links)

    all_root_ids = roots_df["root_id"].to_numpy(_U)
    l2, owner = source.l2_ids_many(all_root_ids)
    root_l2 = pd.DataFrame({"root_id": all_root_ids[owner], "l2_id": np.asarray(l2, _U)})
    detailed_roots = _component(links, neuron_roots)
    if with_partners:
        detailed_roots |= set(all_root_ids.tolist())

    ann = source.annotations()
    if not ann.empty and "root_id" in ann:
        keep_ann = ann["root_id"].astype("uint64").isin(detailed_roots)
        ann = ann[keep_ann].reset_index(drop=True)

    sv_ids = np.concatenate([
        synapses["pre_pt_supervoxel_id"].to_numpy(_U), synapses["post_pt_supervoxel_id"].to_numpy(_U),
        ann["supervoxel_id"].fillna(0).to_numpy().astype(_U) if "supervoxel_id" in ann else np.array([], _U),
    ])
    sv_ids = np.unique(sv_ids[sv_ids != 0])
    sv_l2 = source.l2_of_supervoxels(sv_ids)
    if (sv_l2 == 0).any():
        bad = sv_ids[sv_l2 == 0][:5]
        raise ValueError(f"the source does not know the L2 chunk of supervoxel(s) {bad.tolist()}")
    supervoxels = pd.DataFrame({"sv_id": sv_ids, "l2_id": sv_l2.astype(_U)})

    nuclei = source.nuclei()
    if not nuclei.empty:
        nuc_l2 = source.l2_of_supervoxels(nuclei["supervoxel_id"].to_numpy(_U))
        detailed_l2 = root_l2.loc[root_l2["root_id"].isin(detailed_roots), "l2_id"].to_numpy(_U)
        nuclei = nuclei[np.isin(nuc_l2, detailed_l2)].reset_index(drop=True)
        extra = pd.DataFrame({"sv_id": nuclei["supervoxel_id"].to_numpy(_U),
                              "l2_id": source.l2_of_supervoxels(nuclei["supervoxel_id"].to_numpy(_U))})
        supervoxels = pd.concat([supervoxels, extra]).drop_duplicates("sv_id").reset_index(drop=True)
    if "volume_um3" not in nuclei:
        nuclei = nuclei.assign(volume_um3=np.nan)

    all_l2 = np.unique(np.concatenate([root_l2["l2_id"].to_numpy(_U), supervoxels["l2_id"].to_numpy(_U)]))
    detailed_l2 = np.unique(root_l2.loc[root_l2["root_id"].isin(detailed_roots), "l2_id"].to_numpy(_U))
    l2 = _l2_table(source, all_l2, detailed_l2)

    edges = [source.l2_graph(int(r)) for r in sorted(detailed_roots)]
    e = np.concatenate(edges) if edges else np.zeros((0, 2), _U)
    e = np.sort(np.asarray(e, _U).reshape(-1, 2), axis=1)
    e = np.unique(e[e[:, 0] != e[:, 1]], axis=0) if len(e) else e
    l2_edges = pd.DataFrame({"l2_a": e[:, 0].astype(_U), "l2_b": e[:, 1].astype(_U)})

    res = np.asarray(source.voxel_resolution, dtype=float)
    syn = pd.DataFrame({
        "id": synapses["id"].to_numpy(_U),
        "pre_pt_supervoxel_id": synapses["pre_pt_supervoxel_id"].to_numpy(_U),
        "post_pt_supervoxel_id": synapses["post_pt_supervoxel_id"].to_numpy(_U),
        "size": synapses["size"].to_numpy(np.int64),
        **{c: np.rint(synapses[c].to_numpy(float) / res["xyz".index(c[-1])]).astype(np.int64) for c in _POS},
    })

    versions = source.versions()
    versions["timestamp"] = pd.to_datetime(versions["timestamp"], utc=True).astype("datetime64[us, UTC]")
    neuropils = source.neuropils() if hasattr(source, "neuropils") else empty_table("neuropils")
    info_src = dict(getattr(source, "info", {}) or {})
    info = {
        "name": Path(out).name,
        "description": f"cut of {len(given)} neuron(s) from {source.name}",
        "voxel_resolution": [float(x) for x in res],
        "synapse_table": info_src.get("synapse_table") or getattr(getattr(source, "config", None),
                                                                 "synapse_table", "synapses_v2"),
        "pcg_table": info_src.get("pcg_table", "cut"),
        "source": "cut",
        "cut_from": {k: str(v) for k, v in source.describe().items()},
        "cut_materialization": moments[0].describe(),
        "cut_time": now.timestamp.isoformat(),
        "cut_ids": [int(x) for x in given],
        "with_partners": bool(with_partners),
        **_tissue_urls(source, info_src),
    }
    tables = SnapshotTables(
        info=info, versions=versions[["version", "timestamp", "valid"]], roots=roots_df, root_l2=root_l2,
        l2=l2, supervoxels=supervoxels, l2_edges=l2_edges, lineage=_lineage_table(roots_df, links),
        synapses=syn, annotations=ann, nuclei=nuclei, neuropils=neuropils,
    )
    return write_snapshot(tables, out, overwrite=overwrite)


def _history(source: DataSource, roots: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes (``root_id, created, operation_id``) and links (parent -> child) around ``roots``."""
    if hasattr(source, "lineage_graph"):
        return source.lineage_graph(roots)
    if hasattr(source, "lineage") and hasattr(source, "roots_table"):
        lin = source.lineage()
        par = lin["parent_root_id"].to_numpy(_U)
        chi = lin["child_root_id"].to_numpy(_U)
        seen = _component(pd.DataFrame({"parent_root_id": par, "child_root_id": chi}),
                          {int(r) for r in roots})
        rt = source.roots_table()
        nodes = rt[rt["root_id"].isin(np.array(sorted(seen), _U))][["root_id", "created", "operation_id"]]
        in_comp = np.isin(par, np.array(sorted(seen), _U))
        links = pd.DataFrame({"parent_root_id": par[in_comp], "child_root_id": chi[in_comp]})
        return nodes.reset_index(drop=True), links
    created = source.root_created(roots)
    return (pd.DataFrame({"root_id": roots, "created": created.to_numpy(),
                          "operation_id": np.zeros(len(roots), np.int64)}),
            pd.DataFrame({"parent_root_id": np.array([], _U), "child_root_id": np.array([], _U)}))


def _component(links: pd.DataFrame, start: set[int]) -> set[int]:
    """Roots connected to ``start`` through parent/child ``links`` (``start`` included)."""
    nbrs: dict[int, set[int]] = {}
    for p, c in zip(links["parent_root_id"].to_numpy(_U).tolist(),
                    links["child_root_id"].to_numpy(_U).tolist(), strict=True):
        nbrs.setdefault(p, set()).add(c)
        nbrs.setdefault(c, set()).add(p)
    seen = set(start)
    queue = deque(seen)
    while queue:
        r = queue.popleft()
        for n in nbrs.get(r, ()):
            if n not in seen:
                seen.add(n)
                queue.append(n)
    return seen


def _roots_table(nodes: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    nodes = nodes.drop_duplicates("root_id").reset_index(drop=True)
    created = pd.Series(pd.to_datetime(nodes["created"], utc=True).to_numpy(),
                        index=nodes["root_id"].to_numpy(_U))
    child_created = links.assign(t=created.reindex(links["child_root_id"].to_numpy(_U)).to_numpy())
    expired = child_created.groupby("parent_root_id")["t"].min()
    exp = expired.reindex(nodes["root_id"].to_numpy(_U))
    return pd.DataFrame({
        "root_id": nodes["root_id"].to_numpy(_U),
        "created": pd.to_datetime(nodes["created"], utc=True).astype("datetime64[us, UTC]").to_numpy(),
        "expired": pd.to_datetime(exp.to_numpy(), utc=True).astype("datetime64[us, UTC]"),
        "operation_id": nodes["operation_id"].to_numpy(np.int64),
    }).astype({"created": "datetime64[us, UTC]", "expired": "datetime64[us, UTC]"})


def _tissue_urls(source: Any, info_src: dict) -> dict[str, str]:
    """The real EM and segmentation URLs (a CAVE datastack's, or those a cut snapshot kept), so
    that the cut still shows the real tissue on a networked machine."""
    urls = source.tissue_urls() if hasattr(source, "tissue_urls") else info_src
    return {k: str(urls[k]) for k in ("image_source", "segmentation_source") if urls.get(k)}


def _lineage_table(roots: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    if links.empty:
        return empty_table("lineage")
    info = roots.set_index("root_id")
    child = links["child_root_id"].to_numpy(_U)
    n_parents = links.groupby("child_root_id")["parent_root_id"].transform("nunique").to_numpy()
    out = pd.DataFrame({
        "operation_id": info["operation_id"].reindex(child).to_numpy(np.int64),
        "timestamp": pd.to_datetime(info["created"].reindex(child).to_numpy(), utc=True),
        "kind": np.where(n_parents > 1, "merge", "split").astype(object),
        "parent_root_id": links["parent_root_id"].to_numpy(_U),
        "child_root_id": child,
    })
    out["timestamp"] = out["timestamp"].astype("datetime64[us, UTC]")
    return out


def _l2_table(source: DataSource, all_l2: np.ndarray, detailed: np.ndarray) -> pd.DataFrame:
    attrs = source.l2_attributes(detailed) if len(detailed) else pd.DataFrame(columns=["l2_id"])
    df = pd.DataFrame({"l2_id": all_l2})
    if len(attrs):
        attrs = attrs.assign(l2_id=attrs["l2_id"].to_numpy(_U))
        df = df.merge(attrs, on="l2_id", how="left")
    for c in ("x", "y", "z", "max_dt_nm", "size_nm3"):
        df[c] = df[c].astype(np.float64) if c in df else np.nan
    return df[["l2_id", "x", "y", "z", "max_dt_nm", "size_nm3"]]
