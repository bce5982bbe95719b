"""Query functions on the hand-built tiny snapshot; every expected value worked out by hand.

See ``tests/tiny.py`` for the timeline, the chunks and the twelve synapses.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import napari_crant as nc
from tiny import A0, A2, B0, B2, C0, CD, D0, RES, SYNAPSES, X, positions, sv, synapse_id

U = np.uint64


def conn(rows):
    return pd.DataFrame({
        "pre": np.array([r[0] for r in rows], U),
        "post": np.array([r[1] for r in rows], U),
        "weight": np.array([r[2] for r in rows], np.int64),
    })


def check_conn(got, rows):
    pd.testing.assert_frame_equal(got.reset_index(drop=True), conn(rows))


# -- get_connectivity --------------------------------------------------------------------
def test_connectivity_latest(tiny_path):
    # v3: A2 = a1 a2 a3 f1. Downstream 1,2,3,5 -> B2 (4), 4 -> X; 9 autapse and 10 -> 0
    # removed by clean. Upstream 11 from D0, 12 from B2. Ties sorted by pre (D0 < A2 < B2).
    got = nc.get_connectivity(A2, dataset=tiny_path)
    check_conn(got, [(A2, B2, 4), (D0, A2, 1), (A2, X, 1), (B2, A2, 1)])
    assert got.attrs["materialization_version"] == 3
    assert got.attrs["dataset"] == "tiny"


def test_connectivity_threshold_min_size_directions(tiny_path):
    check_conn(nc.get_connectivity(A2, threshold=2, dataset=tiny_path), [(A2, B2, 4)])
    # sizes >= 100: synapses 1, 3, 5 (A2->B2) and 12 (B2->A2)
    check_conn(nc.get_connectivity(A2, min_size=100, dataset=tiny_path), [(A2, B2, 3), (B2, A2, 1)])
    check_conn(nc.get_connectivity(A2, upstream=False, dataset=tiny_path), [(A2, B2, 4), (A2, X, 1)])
    check_conn(nc.get_connectivity(A2, downstream=False, dataset=tiny_path), [(D0, A2, 1), (B2, A2, 1)])
    # clean=False keeps the autapse (9) and the unsegmented partner (10)
    got = nc.get_connectivity(A2, clean=False, dataset=tiny_path)
    check_conn(got, [(A2, B2, 4), (D0, A2, 1), (A2, 0, 1), (A2, A2, 1), (A2, X, 1), (B2, A2, 1)])


def test_connectivity_older_version_resolves_newer_id(tiny_path):
    # At v2 B2 did not exist yet (split op2 comes later): B2 maps back to B0 (b1, b2 both in
    # B0). B0 at v2: downstream 6, 7 -> C0 and 12 -> A2; upstream 1, 2, 3, 4, 5 from A2.
    got = nc.get_connectivity(B2, materialization=2, dataset=tiny_path)
    check_conn(got, [(A2, B0, 5), (B0, C0, 2), (B0, A2, 1)])
    assert got.attrs["updated_ids"] == {int(B2): int(B0)}


def test_connectivity_live_differs_from_latest(tiny_path):
    # CD exists only after op3 (after v3). Live: 6 B2->CD, 7 X->CD, 11 CD->A2; 8 is now
    # an autapse (c1 -> d1 inside CD) and is removed.
    check_conn(nc.get_connectivity(CD, materialization="live", dataset=tiny_path),
               [(B2, CD, 1), (X, CD, 1), (CD, A2, 1)])
    # At 'latest' (v3) CD maps back to C0 or D0 (one chunk each: a tie, smallest ID wins -> C0)
    upd = nc.update_ids(CD, timestamp="latest", dataset=tiny_path)
    assert upd["new_id"].tolist() == [C0] and upd["confidence"].tolist() == [0.5]
    check_conn(nc.get_connectivity(CD, materialization="latest", dataset=tiny_path),
               [(C0, D0, 1), (B2, C0, 1), (X, C0, 1)])  # ties by pre: C0 < B2 < X


def test_connectivity_at_datetime_and_int_version_agree(tiny_path):
    v2 = nc.list_versions(tiny_path).set_index("version").loc[2, "timestamp"]
    a = nc.get_connectivity(A2, materialization=2, dataset=tiny_path)
    b = nc.get_connectivity(A2, materialization=v2.to_pydatetime(), dataset=tiny_path)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["materialization_version"] == 2 and b.attrs["materialization_version"] is None


def test_old_id_gives_same_connectivity_as_current(tiny_path):
    # defect 1/7: the outdated A0 is resolved at the queried moment (v3) to A2
    a = nc.get_connectivity(A0, dataset=tiny_path)
    b = nc.get_connectivity(A2, dataset=tiny_path)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["updated_ids"] == {int(A0): int(A2)}


# -- get_synapses ------------------------------------------------------------------------
def test_synapses_rows_columns_and_exact_positions(tiny_path):
    syn = nc.get_synapses(pre_ids=A2, dataset=tiny_path)
    assert syn["id"].tolist() == [synapse_id(k) for k in (1, 2, 3, 4, 5)]
    assert syn["id"].dtype == U and syn["pre_pt_root_id"].dtype == U
    assert set(syn["pre_pt_root_id"]) == {A2}
    assert syn["post_pt_root_id"].tolist() == [B2, B2, B2, X, B2]
    assert syn["pre_pt_supervoxel_id"].tolist() == [sv(1), sv(1), sv(2), sv(3), sv(4)]
    pos = positions()
    # return_pixels=True (default): voxels, exact
    for i, k in enumerate((1, 2, 3, 4, 5)):
        assert list(syn["pre_pt_position"].iloc[i]) == list(pos[k]["pre"])
    nm = nc.get_synapses(pre_ids=A2, return_pixels=False, dataset=tiny_path)
    for i, k in enumerate((1, 2, 3, 4, 5)):
        np.testing.assert_array_equal(nm["post_pt_position"].iloc[i], np.array(pos[k]["post"]) * RES)
    split = nc.get_synapses(pre_ids=A2, return_pixels=False, split_positions=True, dataset=tiny_path)
    assert split["ctr_pt_position_z"].tolist() == [pos[k]["ctr"][2] * 42.0 for k in (1, 2, 3, 4, 5)]


def test_synapses_pre_and_post(tiny_path):
    syn = nc.get_synapses(pre_ids=[A2], post_ids=[X], dataset=tiny_path)
    assert syn["id"].tolist() == [synapse_id(4)]
    assert syn["size"].tolist() == [SYNAPSES[4][2]]


def test_synapses_threshold_is_per_pair(tiny_path):
    syn = nc.get_synapses(post_ids=[B2, X], threshold=2, dataset=tiny_path)
    # A2->B2 has 4 synapses (kept), A2->X only 1 (dropped)
    assert syn["id"].tolist() == [synapse_id(k) for k in (1, 2, 3, 5)]


# -- get_adjacency -----------------------------------------------------------------------
def test_adjacency(tiny_path):
    adj = nc.get_adjacency([A2, B2], [A2, B2, X], dataset=tiny_path)
    assert adj.index.tolist() == [A2, B2] and adj.columns.tolist() == [A2, B2, X]
    assert adj.index.dtype == U and adj.columns.dtype == U
    np.testing.assert_array_equal(adj.to_numpy(), [[0, 4, 1], [1, 0, 0]])
    assert adj.to_numpy().dtype == np.int64
    sym = nc.get_adjacency([A2, B2], [A2, B2, X], symmetric=True, dataset=tiny_path)
    assert sym.index.tolist() == sym.columns.tolist() == [A2, B2, X]
    np.testing.assert_array_equal(sym.to_numpy(), [[0, 4, 1], [1, 0, 0], [0, 0, 0]])
    dirty = nc.get_adjacency([A2], [A2], clean=False, dataset=tiny_path)
    np.testing.assert_array_equal(dirty.to_numpy(), [[1]])


def test_adjacency_empty_is_zero_matrix_on_query_ids(tiny_path):
    adj = nc.get_adjacency([X], [A2, B2], dataset=tiny_path)
    assert adj.index.tolist() == [X] and adj.columns.tolist() == [A2, B2]
    assert (adj.to_numpy() == 0).all()


# -- get_synapse_counts ------------------------------------------------------------------
def test_synapse_counts_keep_updated_ids(tiny_path):
    counts = nc.get_synapse_counts([A0, B2], dataset=tiny_path)
    assert counts.index.tolist() == [A0, B2]  # as given, A0 outdated
    assert counts.index.dtype == U
    assert counts.attrs["root_ids"] == {int(A0): int(A2), int(B2): int(B2)}
    assert (counts.dtypes == np.int64).all()  # a row or .T never goes through float64
    assert counts.T[A0].tolist() == [5, 2, 2, 2]
    assert counts["pre_synapses"].tolist() == [5, 2]
    assert counts["post_synapses"].tolist() == [2, 4]
    assert counts["downstream_partners"].tolist() == [2, 2]
    assert counts["upstream_partners"].tolist() == [2, 1]
    thr = nc.get_synapse_counts([A2], threshold=2, dataset=tiny_path)
    assert thr.loc[A2].tolist() == [4, 0, 1, 0]



@pytest.mark.parametrize("threshold", [1, 2])
def test_synapse_counts_on_two_threads_are_those_on_one(tiny_path, monkeypatch, threshold):
    """Many neurons count their inputs on a second thread while the outputs are counted: the
    same frame as one after the other (the tiny snapshot's neurons are few: the bar is lowered)."""
    import threading

    from napari_crant.queries import connectivity as conn_module
    from napari_crant.queries import side_by_side

    ids = [A0, B2, CD, D0, X]
    one = nc.get_synapse_counts(ids, threshold=threshold, dataset=tiny_path)
    sides = []
    side_totals = conn_module._side_totals

    def spy(source, at, roots, side, *args):
        sides.append((side, threading.current_thread() is threading.main_thread()))
        return side_totals(source, at, roots, side, *args)

    monkeypatch.setattr(conn_module, "_side_totals", spy)
    monkeypatch.setattr(side_by_side, "THREADED_ROOTS", 2)
    two = nc.get_synapse_counts(ids, threshold=threshold, dataset=tiny_path)
    assert sorted(sides) == [("post", False), ("pre", True)]
    pd.testing.assert_frame_equal(two, one)
    assert two.attrs["root_ids"] == one.attrs["root_ids"]


# -- update_ids --------------------------------------------------------------------------
def test_update_ids_live(tiny_path):
    upd = nc.update_ids([A0, B0, C0, A2], dataset=tiny_path)
    assert upd["old_id"].tolist() == [A0, B0, C0, A2]
    assert upd["new_id"].tolist() == [A2, B2, CD, A2]
    # A0 and B0 via their annotated supervoxels, C0 by overlap (its only chunk is in CD)
    assert upd["confidence"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert upd["changed"].tolist() == [True, True, True, False]
    assert upd["new_id"].dtype == U and upd["old_id"].dtype == U


def test_update_ids_overlap_fraction_without_annotations(tiny_path):
    upd = nc.update_ids(B0, use_annotations=False, dataset=tiny_path)
    assert upd["new_id"].tolist() == [B2]
    assert upd["confidence"].iloc[0] == pytest.approx(2 / 3)
    # a supervoxel passed in wins: sv 8 lies in b3, which is in X
    upd = nc.update_ids([B0], supervoxels=[sv(8)], dataset=tiny_path)
    assert upd["new_id"].tolist() == [X] and upd["confidence"].tolist() == [1.0]


def test_update_ids_backwards_in_time(tiny_path):
    # Before op1 A2's chunks belonged to A0 (3 of 4) and F0 (1 of 4)
    upd = nc.update_ids(A2, timestamp=dt.datetime(2025, 2, 15), dataset=tiny_path)
    assert upd["new_id"].tolist() == [A0] and upd["confidence"].tolist() == [0.75]


def test_update_ids_no_successor_keeps_id_and_warns(tiny_path):
    with pytest.warns(UserWarning, match="no successor"):
        upd = nc.update_ids(A2, timestamp=dt.datetime(2024, 6, 1), dataset=tiny_path)
    assert upd["new_id"].tolist() == [A2] and upd["confidence"].tolist() == [0.0]


def test_update_cache_is_keyed_by_timestamp(tiny_path):
    # defect 5: the same ID at two moments must not share a cache entry
    a = nc.update_ids(B2, timestamp=2, dataset=tiny_path)
    b = nc.update_ids(B2, timestamp="live", dataset=tiny_path)
    assert a["new_id"].tolist() == [B0] and b["new_id"].tolist() == [B2]


def test_update_ids_false_rejects_outdated(tiny_path):
    with pytest.raises(nc.InvalidIDError, match=str(A0)):
        nc.get_connectivity(A0, update_ids=False, dataset=tiny_path)


# -- skeletons and attach_synapses -------------------------------------------------------
def test_l2_skeleton(tiny_path):
    n = nc.get_l2_skeleton(A2, dataset=tiny_path)
    nodes = n.nodes.sort_values("node_id")
    # chunks sorted by ID: a1 a2 a3 f1; chain a1-a2-a3-f1 rooted at the thick a1 (soma)
    assert nodes["parent_id"].tolist() == [-1, 0, 1, 2]
    assert nodes["x"].tolist() == [10000, 12000, 14000, 16000]
    assert nodes["radius"].tolist() == [2000, 300, 250, 200]
    assert int(n.id) == int(A2) and "nanometer" in str(n.units)
    assert int(n.soma[0] if np.ndim(n.soma) else n.soma) == 0
    several = nc.get_l2_skeleton([A2, B2], dataset=tiny_path)
    assert len(several) == 2 and [int(x.id) for x in several] == [int(A2), int(B2)]


def test_attach_synapses(tiny_path):
    n = nc.get_l2_skeleton(A2, dataset=tiny_path)
    out = nc.attach_synapses(n, dataset=tiny_path)
    assert out is n
    cn = n.connectors
    # pre: 1, 2, 3, 5 (4 lies 20 um away, beyond max_distance); post: 11, 12
    assert cn["type"].tolist() == ["pre"] * 4 + ["post"] * 2
    assert cn["synapse_id"].tolist() == [synapse_id(k) for k in (1, 2, 3, 5, 11, 12)]
    assert cn["connector_id"].tolist() == list(range(6))
    assert cn["partner_id"].tolist() == [B2, B2, B2, B2, D0, B2]
    assert cn["node_id"].tolist() == [0, 0, 1, 3, 2, 1]
    pos = positions()
    assert cn["x"].iloc[0] == pos[1]["pre"][0] * 8.0  # exact nm (defect 3)
    kept = nc.attach_synapses(n, clean=False, dataset=tiny_path).connectors
    # clean=False keeps synapse 4 and also 9 (autapse: pre and post) and 10 (to 0)
    assert sorted(kept["synapse_id"].tolist()) == sorted(
        [synapse_id(k) for k in (1, 2, 3, 4, 5, 9, 10, 9, 11, 12)]
    )


def test_attach_synapses_outdated_neuron_id_still_gets_connectors(tiny_path):
    n = nc.get_l2_skeleton(A0, dataset=tiny_path)  # the old root's own (smaller) shape
    assert len(n.nodes) == 3
    nc.attach_synapses(n, dataset=tiny_path)  # resolved to A2 at v3 (defect 7)
    assert len(n.connectors) == 6


def test_attach_synapses_bad_input(tiny_path):
    with pytest.raises(TypeError, match="TreeNeuron"):
        nc.attach_synapses(pd.DataFrame(), dataset=tiny_path)
    n = nc.get_l2_skeleton(A2, dataset=tiny_path)
    with pytest.raises(ValueError, match="pre and post"):
        nc.attach_synapses(n, pre=False, post=False, dataset=tiny_path)


# -- annotations, criteria, versions -----------------------------------------------------
def test_criteria_and_annotations(tiny_path):
    crit = nc.NeuronCriteria(cell_type="pn_da1", dataset=tiny_path)
    assert crit.get_roots().tolist() == [A0]
    assert crit.count() == 1
    # criteria usable as IDs; the outdated annotation root is updated at the query
    check_conn(nc.get_connectivity(crit, threshold=2, dataset=tiny_path), [(A2, B2, 4)])
    assert nc.NeuronCriteria(cell_type="PN", exact=False, dataset=tiny_path).count() == 1
    assert nc.NeuronCriteria(cell_type="pn", case=True, exact=False, dataset=tiny_path).count() == 0
    assert nc.NeuronCriteria(cell_type="^(PN|KC)_", regex=True, exact=False,
                             dataset=tiny_path).count() == 2
    assert nc.NeuronCriteria(status="PRELIM_PROOFREAD", dataset=tiny_path).count() == 2
    both = ["PRELIM_PROOFREAD", "BACKBONE_PROOFREAD"]
    assert nc.NeuronCriteria(status=both, match_all=True, dataset=tiny_path).count() == 1
    assert nc.NeuronCriteria(status=both, dataset=tiny_path).count() == 2
    assert nc.NeuronCriteria(side="right", proofread=False, dataset=tiny_path).get_roots().tolist() == [B0]
    ann = nc.get_annotations([B0], dataset=tiny_path)
    assert ann["cell_type"].tolist() == ["KC_g"] and ann["root_id"].dtype == U


def test_list_versions(tiny_path):
    v = nc.list_versions(tiny_path)
    assert v["version"].tolist() == [1, 2, 3]
    assert v["valid"].tolist() == [False, True, True]
    assert str(v["timestamp"].dt.tz) == "UTC"


def test_preload_reads_the_query_files_and_changes_no_answer(tiny_path):
    from napari_crant.sources.snapshot import QUERY_FILES, SnapshotSource

    tiny_path = Path(tiny_path)
    src = SnapshotSource(tiny_path)
    before = nc.get_connectivity([A2], dataset=str(tiny_path))
    expected = sum((tiny_path / name).stat().st_size for name in QUERY_FILES if (tiny_path / name).exists())
    assert expected > 0
    assert src.preload() == expected
    pd.testing.assert_frame_equal(nc.get_connectivity([A2], dataset=str(tiny_path)), before)
