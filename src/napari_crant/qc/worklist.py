"""Worklists of synapses that are likely wrong, computed per neuron and sorted first."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Flag name -> the reason shown to the reviewer (also the sort order among equals).
FLAGS = {
    "far_from_skeleton": "farther than {max_distance:,.0f} nm from the skeleton",
    "near_duplicate": "another synapse to the same partner within {duplicate_distance:,.0f} nm",
    "autapse": "pre and post on the same neuron (autapse)",
    "same_supervoxel": "pre and post on the same supervoxel",
    "small_fragment": "partner is a small fragment (< {small_fragment_l2} L2 chunks)",
    "unsegmented_partner": "partner is unsegmented (root 0)",
}


def build_worklist(
    root_id: Any,
    materialization: Any = "latest",
    max_distance: float = 2_000,
    duplicate_distance: float = 150,
    small_fragment_l2: int = 10,
    skeleton: Any = None,
    dataset: Any = None,
) -> pd.DataFrame:
    """All synapses of one neuron, with anomaly flags, likely errors first.

    Parameters
    ----------
    root_id
        The neuron (updated to ``materialization`` if outdated).
    materialization
        Which moment's roots to use.
    max_distance
        A synapse whose site is farther than this (nm) from the skeleton is flagged.
    duplicate_distance
        Two synapses with the same partner and direction closer than this (nm) are flagged.
    small_fragment_l2
        Partners with fewer L2 chunks than this are flagged as small fragments.
    skeleton
        The neuron's ``navis.TreeNeuron`` (built with ``get_l2_skeleton`` when ``None``).
    dataset
        Dataset name or path.

    Returns
    -------
    pandas.DataFrame
        One row per synapse: ``synapse_id, type`` ('pre' where the neuron is presynaptic,
        'post' otherwise), ``partner_id, pre_pt_root_id, post_pt_root_id,
        pre_pt_supervoxel_id, post_pt_supervoxel_id, size, x, y, z`` (the neuron's site, nm),
        ``distance`` (nm to the skeleton), ``flags`` (tuple of names from :data:`FLAGS`),
        ``reason`` (text) and ``n_flags``. Sorted by number of flags, then flag order,
        then distance (far first), then synapse id. ``attrs`` holds provenance.
    """
    from scipy.spatial import cKDTree

    import napari_crant as nc
    from napari_crant.queries.common import open_query, query_ids

    source, at = open_query(dataset, materialization)
    q = query_ids(source, at, root_id, True, "root_id")
    if len(q.roots) != 1:
        raise ValueError(f"build_worklist takes one neuron, not {len(q.roots)}")
    root = int(q.roots[0])
    kw = dict(materialization=at, clean=False, return_pixels=False, split_positions=True, dataset=source)
    out_syn = nc.get_synapses(pre_ids=root, **kw)
    in_syn = nc.get_synapses(post_ids=root, **kw)
    pre = out_syn.assign(type="pre", partner_id=out_syn["post_pt_root_id"])
    post = in_syn[~in_syn["id"].isin(out_syn["id"])]  # autapses once, as 'pre'
    post = post.assign(type="post", partner_id=post["pre_pt_root_id"])
    syn = pd.concat([pre, post], ignore_index=True)
    site = np.where(syn["type"].to_numpy() == "pre", "pre", "post")
    xyz = np.stack([
        np.where(site == "pre", syn[f"pre_pt_position_{a}"], syn[f"post_pt_position_{a}"]) for a in "xyz"
    ], axis=1).astype(np.float64) if len(syn) else np.zeros((0, 3))
    if skeleton is None:
        skeleton = nc.get_l2_skeleton(root, dataset=source)
    tree = cKDTree(skeleton.nodes[["x", "y", "z"]].to_numpy(np.float64))
    dist = tree.query(xyz)[0] if len(syn) else np.zeros(0)

    flags: list[list[str]] = [[] for _ in range(len(syn))]
    pre_root = syn["pre_pt_root_id"].to_numpy(np.uint64)
    post_root = syn["post_pt_root_id"].to_numpy(np.uint64)
    partner = syn["partner_id"].to_numpy(np.uint64)
    for i in np.flatnonzero(dist > max_distance):
        flags[i].append("far_from_skeleton")
    if len(syn) > 1:
        ctr = syn[[f"ctr_pt_position_{a}" for a in "xyz"]].to_numpy(np.float64)
        pairs = cKDTree(ctr).query_pairs(duplicate_distance, output_type="ndarray")
        if len(pairs):
            same = (pre_root[pairs[:, 0]] == pre_root[pairs[:, 1]]) & (
                post_root[pairs[:, 0]] == post_root[pairs[:, 1]])
            for i in np.unique(pairs[same].ravel()):
                flags[i].append("near_duplicate")
    for i in np.flatnonzero((pre_root == post_root) & (pre_root != 0)):
        flags[i].append("autapse")
    pre_sv = syn["pre_pt_supervoxel_id"].to_numpy(np.uint64)
    same_sv = pre_sv == syn["post_pt_supervoxel_id"].to_numpy(np.uint64)
    for i in np.flatnonzero(same_sv):
        flags[i].append("same_supervoxel")
    for i in np.flatnonzero(partner == 0):
        flags[i].append("unsegmented_partner")
    partners = np.unique(partner[(partner != 0) & (partner != root)])
    if len(partners):
        _, owner = source.l2_ids_many(partners)
        sizes = np.bincount(owner, minlength=len(partners))
        small = set(partners[sizes < small_fragment_l2].tolist())
        for i in np.flatnonzero(np.isin(partner, list(small))):
            flags[i].append("small_fragment")

    order = {f: k for k, f in enumerate(FLAGS)}
    fmt = {"max_distance": max_distance, "duplicate_distance": duplicate_distance,
           "small_fragment_l2": small_fragment_l2}
    flags_t = [tuple(sorted(f, key=order.get)) for f in flags]
    wl = pd.DataFrame({
        "synapse_id": syn["id"].to_numpy(np.uint64),
        "type": syn["type"].to_numpy(),
        "partner_id": partner,
        "pre_pt_root_id": pre_root,
        "post_pt_root_id": post_root,
        "pre_pt_supervoxel_id": syn["pre_pt_supervoxel_id"].to_numpy(np.uint64),
        "post_pt_supervoxel_id": syn["post_pt_supervoxel_id"].to_numpy(np.uint64),
        "size": syn["size"].to_numpy(np.int64),
        "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
        "distance": dist,
        "flags": flags_t,
        "reason": ["; ".join(FLAGS[f].format(**fmt) for f in fl) for fl in flags_t],
        "n_flags": np.array([len(f) for f in flags_t], np.int64),
    })
    wl["_first"] = [order[f[0]] if f else len(order) for f in flags_t]
    wl = wl.sort_values(["n_flags", "_first", "distance", "synapse_id"],
                        ascending=[False, True, False, True], kind="stable")
    wl = wl.drop(columns="_first").reset_index(drop=True)
    wl.attrs = {**out_syn.attrs, "root_id": root, "query_id": int(q.given[0]), **fmt}
    return wl
