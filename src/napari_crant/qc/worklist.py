"""Worklists of synapses that are likely wrong, computed per neuron and sorted first.

The flags aim at what is *likely wrong*, not at what is merely unusual: insect synapses are
polyadic and a neuron often makes several synapses onto the same partner a few hundred nm
apart, so only two detections of one pair closer than ``duplicate_distance`` (40 nm: one
synapse detected twice) are near-duplicates. A synapse is far from the skeleton when it is
farther than ``max_distance`` *and* an outlier among the neuron's own synapses (Tukey's far
fence, Q3 + ``outlier_iqr`` x IQR): the L2 skeleton's nodes sit at chunk centres, so ordinary
synapses lie up to a few um from them. On the demo this flags a few % of a neuron's synapses
and puts the planted anomalies first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Flag name -> the reason shown to the reviewer, in sort order: a site far from the arbor (a
#: false detection or a missing branch), one synapse detected twice, an autapse (rare in insects,
#: usually a merge), one supervoxel on both sides; then partners that are fragments or unsegmented.
FLAGS = {
    "far_from_skeleton": "farther than {max_distance:,.0f} nm from the skeleton",
    "near_duplicate": ("another synapse of the same pair at the same spot, or on the same "
                       "pre and post supervoxels within {duplicate_distance:,.0f} nm (detected twice?)"),
    "autapse": "pre and post on the same neuron (autapse)",
    "same_supervoxel": "pre and post on the same supervoxel",
    "small_fragment": ("partner is a small fragment (< {small_fragment_l2} L2 chunks, "
                       "or < {unannotated_fragment_l2} and not annotated)"),
    "unsegmented_partner": "partner is unsegmented (root 0)",
}
#: sort rank of a near-duplicate that is not at the same spot: after the certain errors
#: (autapse, same supervoxel) -- polyadic sites make close synapses of one pair common
LOOSE_DUPLICATE_RANK = 3.5

#: two synapses of one pair whose centres are this close (nm) are one synapse detected twice,
#: whatever their supervoxels
SAME_SPOT_NM = 4.0


def build_worklist(
    root_id: Any,
    materialization: Any = "latest",
    max_distance: float = 2_000,
    duplicate_distance: float = 40,
    small_fragment_l2: int = 25,
    outlier_iqr: float | None = 3.0,
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
        A synapse whose site is farther than this (nm) from the skeleton, and farther than the
        outlier fence (see ``outlier_iqr``), is flagged.
    duplicate_distance
        Two synapses of the same pre and post supervoxels whose centres are closer than
        this (nm) are flagged (one synapse detected twice; the several synapses a neuron
        makes onto one partner lie on different supervoxels or farther apart), as are two
        of the same pair within :data:`SAME_SPOT_NM`.
    small_fragment_l2
        Partners with fewer L2 chunks than this, or fewer than four times this and no row
        in the annotation table (an orphan piece nobody named), are flagged as small
        fragments.
    outlier_iqr
        The outlier fence is Q3 + ``outlier_iqr`` x IQR of the neuron's synapse distances to
        its skeleton; ``None``: ``max_distance`` alone.
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
        ``reason`` (text) and ``n_flags``. Sorted by the most telling flag (in :data:`FLAGS`
        order; a near-duplicate not at the same spot after same supervoxel, see
        :data:`LOOSE_DUPLICATE_RANK`), then number of flags, then distance (far first), then
        synapse id. ``attrs`` holds provenance and the
        thresholds used (``max_distance`` is the effective one, fence included).
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

    max_distance = far_threshold(dist, max_distance, outlier_iqr)
    flags: list[list[str]] = [[] for _ in range(len(syn))]
    at_spot = np.zeros(len(syn), bool)  # near-duplicates at the same spot
    pre_root = syn["pre_pt_root_id"].to_numpy(np.uint64)
    post_root = syn["post_pt_root_id"].to_numpy(np.uint64)
    partner = syn["partner_id"].to_numpy(np.uint64)
    pre_sv = syn["pre_pt_supervoxel_id"].to_numpy(np.uint64)
    post_sv = syn["post_pt_supervoxel_id"].to_numpy(np.uint64)
    for i in np.flatnonzero(dist > max_distance):
        flags[i].append("far_from_skeleton")
    if len(syn) > 1:
        ctr = syn[[f"ctr_pt_position_{a}" for a in "xyz"]].to_numpy(np.float64)
        pairs = cKDTree(ctr).query_pairs(duplicate_distance, output_type="ndarray")
        if len(pairs):
            a, b = pairs[:, 0], pairs[:, 1]
            pair = (pre_root[a] == pre_root[b]) & (post_root[a] == post_root[b])
            same_spot = pair & (np.linalg.norm(ctr[a] - ctr[b], axis=1) <= SAME_SPOT_NM)
            same_svs = pair & (pre_sv[a] == pre_sv[b]) & (post_sv[a] == post_sv[b]) & (
                pre_sv[a] != 0) & (post_sv[a] != 0)
            for i in np.unique(pairs[same_spot | same_svs].ravel()):
                flags[i].append("near_duplicate")
            at_spot[np.unique(pairs[same_spot].ravel())] = True
    for i in np.flatnonzero((pre_root == post_root) & (pre_root != 0)):
        flags[i].append("autapse")
    same_sv = pre_sv == post_sv
    for i in np.flatnonzero(same_sv):
        flags[i].append("same_supervoxel")
    for i in np.flatnonzero(partner == 0):
        flags[i].append("unsegmented_partner")
    partners = np.unique(partner[(partner != 0) & (partner != root)])
    if len(partners):
        _, owner = source.l2_ids_many(partners)
        sizes = np.bincount(owner, minlength=len(partners))
        annotated = np.isin(partners, _annotated_roots(source, at))
        small = set(partners[(sizes < small_fragment_l2)
                             | ((sizes < 4 * small_fragment_l2) & ~annotated)].tolist())
        for i in np.flatnonzero(np.isin(partner, list(small))):
            flags[i].append("small_fragment")

    order = {f: k for k, f in enumerate(FLAGS)}
    fmt = {"max_distance": max_distance, "duplicate_distance": duplicate_distance,
           "small_fragment_l2": small_fragment_l2, "unannotated_fragment_l2": 4 * small_fragment_l2}
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
        **{f"{side}_{a}": syn[f"{side}_pt_position_{a}"].to_numpy(np.float64)
           for side in ("pre", "post") for a in "xyz"},
        "distance": dist,
        "flags": flags_t,
        "reason": ["; ".join(FLAGS[f].format(**fmt) for f in fl) for fl in flags_t],
        "n_flags": np.array([len(f) for f in flags_t], np.int64),
    })
    wl["_rank"] = [min((LOOSE_DUPLICATE_RANK if f == "near_duplicate" and not spot else order[f])
                       for f in fl) if fl else len(order) for fl, spot in zip(flags_t, at_spot, strict=True)]
    wl = wl.sort_values(["_rank", "n_flags", "distance", "synapse_id"],
                        ascending=[True, False, False, True], kind="stable")
    wl = wl.drop(columns="_rank").reset_index(drop=True)
    wl.attrs = {**out_syn.attrs, "root_id": root, "query_id": int(q.given[0]), **fmt}
    return wl


def far_threshold(distance: np.ndarray, max_distance: float, outlier_iqr: float | None) -> float:
    """The distance (nm) beyond which a synapse is far from its skeleton.

    Parameters
    ----------
    distance
        Every synapse's distance to the skeleton (nm).
    max_distance
        The floor.
    outlier_iqr
        Tukey's far fence factor (``None``: the floor alone). Fewer than 8 synapses: the floor.

    Returns
    -------
    float
        ``max(max_distance, Q3 + outlier_iqr * (Q3 - Q1))``.
    """
    if outlier_iqr is None or len(distance) < 8:
        return float(max_distance)
    q1, q3 = np.percentile(distance, [25, 75])
    return float(max(max_distance, q3 + float(outlier_iqr) * (q3 - q1)))



def _annotated_roots(source: Any, at: Any) -> np.ndarray:
    """The roots at ``at`` of the annotation table's supervoxels (uint64, nonzero)."""
    ann = source.annotations()
    if "supervoxel_id" not in ann.columns or not len(ann):
        return np.zeros(0, np.uint64)
    sv = ann["supervoxel_id"].dropna().to_numpy().astype(np.uint64)
    roots = source.roots_of_supervoxels(sv[sv != 0], at)
    return roots[roots != 0]
