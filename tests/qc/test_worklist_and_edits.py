"""Worklist order and flags, the watchdog check, and edit/version diffs on the tiny snapshot."""

from __future__ import annotations

import numpy as np

from napari_crant.qc.edits import check_current, partner_diff, synapse_diff
from napari_crant.qc.worklist import build_worklist
from tiny import A0, A2, B0, B2, C0, CD, X, synapse_id


def test_worklist_order_and_reasons(tiny_path):
    wl = build_worklist(A2, small_fragment_l2=2, dataset=tiny_path)
    # 4: far (20 um) + partner X is a 1-chunk fragment; 1 and 2: same pair at the same spot;
    # 9 autapse; 11 from the 1-chunk D0; 10 to root 0; then unflagged by distance.
    assert wl["synapse_id"].tolist() == [synapse_id(k) for k in (4, 2, 1, 9, 11, 10, 12, 5, 3)]
    assert wl["flags"].tolist()[:6] == [
        ("far_from_skeleton", "small_fragment"), ("near_duplicate",), ("near_duplicate",),
        ("autapse",), ("small_fragment",), ("unsegmented_partner",),
    ]
    assert wl["reason"].iloc[0].startswith("farther than 2,000 nm from the skeleton")
    assert wl["n_flags"].tolist() == [2, 1, 1, 1, 1, 1, 0, 0, 0]
    assert wl.attrs["root_id"] == int(A2)
    assert wl.loc[wl["synapse_id"] == synapse_id(12), "type"].item() == "post"


def test_worklist_for_outdated_id(tiny_path):
    wl = build_worklist(A0, small_fragment_l2=2, dataset=tiny_path)
    assert wl.attrs["root_id"] == int(A2) and wl.attrs["query_id"] == int(A0)
    assert len(wl) == 9


def test_check_current(tiny_path):
    cc = check_current([A0, A2, B0], dataset=tiny_path)
    assert cc["current"].tolist() == [False, True, False]
    assert cc["new_id"].tolist() == [A2, A2, B2]


def test_synapse_diff_of_split(tiny_path):
    # B0 (b1 b2 b3) was split: B2 keeps b1, b2. Lost: 7 (b3 -> c1) and 4 (a3 -> b3).
    d = synapse_diff(B0, dataset=tiny_path)
    assert d.attrs["new_id"] == int(B2)
    lost = d[d["status"] == "lost"]
    assert sorted(zip(lost["synapse_id"].tolist(), lost["direction"], strict=True)) == [
        (synapse_id(4), "upstream"), (synapse_id(7), "downstream")]
    assert (d["status"] == "gained").sum() == 0
    kept = d[d["status"] == "kept"]
    assert sorted(kept["synapse_id"].tolist()) == [synapse_id(k) for k in (1, 2, 3, 5, 6, 12)]
    assert d.loc[d["synapse_id"] == synapse_id(7), "partner_id"].item() != X  # partner as seen then
    assert d["partner_id"].dtype == np.uint64


def test_synapse_diff_of_merge(tiny_path):
    # C0 + D0 -> CD: D0's synapses (8 from c1 now internal, 11 to A2) are gained by CD's view
    d = synapse_diff(C0, CD, dataset=tiny_path)
    gained = d[d["status"] == "gained"]
    assert sorted(gained["synapse_id"].tolist()) == [synapse_id(11)]
    lost = d[d["status"] == "lost"]
    assert sorted(lost["synapse_id"].tolist()) == [synapse_id(8)]  # C0->D0 became an autapse (cleaned)


def test_partner_diff_between_version_and_live(tiny_path):
    d = partner_diff(B2, 2, "live", dataset=tiny_path)
    rows = list(zip(d["direction"], d["partner_id"].tolist(), d["weight_a"], d["weight_b"], d["change"],
                    strict=True))
    assert rows == [("downstream", CD, 2, 1, -1), ("upstream", A2, 5, 4, -1), ("downstream", A2, 1, 1, 0)]
