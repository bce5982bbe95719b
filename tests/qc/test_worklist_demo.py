"""The worklist on the demo: planted anomalies first, a realistic share of flagged synapses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import napari_crant as nc
from napari_crant.qc.worklist import FLAGS, build_worklist

#: planted kinds that are wrong whatever the proofreading (fragments may have been merged since)
CERTAIN = ("far_from_arbor", "autapse", "same_supervoxel")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from napari_crant.demo import make_demo

    path = make_demo(tmp_path_factory.mktemp("demo") / "d", n_neurons=1000, seed=0)
    planted = json.loads((Path(path) / "manifest.json").read_text())["info"]["planted_anomalies"]
    kind = {int(i): k for k, ids in planted.items() for i in ids}
    return str(path), kind


def _neurons_with_planted(path, kind):
    ids = np.array([i for i, k in kind.items() if k != "on_fragment"], np.uint64)
    ann = nc.get_annotations(dataset=path)
    syn = nc.get_synapses(pre_ids=ann["root_id"].to_numpy(np.uint64), clean=False, dataset=path)
    syn = syn[syn["id"].isin(ids)]
    roots = np.unique(np.concatenate([syn["pre_pt_root_id"], syn["post_pt_root_id"]]).astype(np.uint64))
    return roots[roots != 0]


def test_planted_anomalies_rank_first_and_few_are_flagged(demo):
    path, kind = demo
    roots = _neurons_with_planted(path, kind)
    assert len(roots) >= 10
    n_syn = n_flagged = 0
    for root in roots:
        wl = build_worklist(root, dataset=path)
        kinds = np.array([kind.get(int(i), "") for i in wl["synapse_id"]])
        flagged = wl["n_flags"].to_numpy() > 0
        certain = np.flatnonzero(np.isin(kinds, CERTAIN))
        strong = set(list(FLAGS)[:4])  # far, near-duplicate, autapse, same supervoxel
        first = np.array([f[0] if f else "" for f in wl["flags"]])
        # what is certainly wrong is at the top: only synapses the demo made duplicates of by
        # chance (the same pair at the same spot) may come first
        if len(certain):
            assert certain.max() < 5, (root, wl.head(certain.max() + 1))
            ahead = np.flatnonzero(kinds[:certain.max()] == "")
            assert all(f == ("near_duplicate",) for f in wl["flags"].iloc[ahead]), wl.head(6)
        dup = np.flatnonzero(kinds == "near_duplicate")
        assert flagged[dup].all()
        assert all("near_duplicate" in f for f in wl["flags"].iloc[dup])
        # every planted near-duplicate before any ordinary synapse that is merely unsegmented or clean
        weak = np.flatnonzero((kinds == "") & ~np.isin(first, list(strong)))
        if len(dup):
            assert dup.max() < weak.min()
        assert flagged.mean() < 0.10, (root, flagged.mean())
        n_syn += len(wl)
        n_flagged += flagged.sum()
    assert n_flagged / n_syn < 0.05


def test_polyadic_neighbours_are_not_duplicates(demo):
    # a neuron's many synapses onto one partner a few hundred nm apart are normal
    path, _ = demo
    ann = nc.get_annotations(dataset=path)
    upn = ann.loc[ann["cell_type"] == "uPN", "root_id"].to_numpy(np.uint64)[:5]
    for root in upn:
        wl = build_worklist(root, dataset=path)
        dup = wl["flags"].map(lambda f: "near_duplicate" in f).to_numpy()
        assert dup.mean() < 0.05
        # reason names the rule
        assert not dup.any() or "same pre and post supervoxels" in wl["reason"][dup].iloc[0]
    assert list(FLAGS)[:4] == ["far_from_skeleton", "near_duplicate", "autapse", "same_supervoxel"]


def test_far_threshold_is_an_outlier_fence():
    from napari_crant.qc.worklist import far_threshold

    d = np.array([100.0, 200, 300, 400, 500, 600, 700, 800, 20_000])
    # Q1 = 300, Q3 = 700: fence 700 + 3 * 400 = 1900 < floor 2000
    assert far_threshold(d, 2000, 3.0) == 2000
    assert far_threshold(d * 2, 2000, 3.0) == pytest.approx(1400 + 3 * 800)
    assert far_threshold(d * 2, 2000, None) == 2000
    assert far_threshold(d[:5] * 100, 2000, 3.0) == 2000  # too few synapses for a fence
