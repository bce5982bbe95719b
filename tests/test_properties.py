"""Invariants of the query functions (hypothesis), on the tiny and on a small demo snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napari_crant as nc
from napari_crant.sources.snapshot import SnapshotSource

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", params=["tiny", "demo"])
def snap(request, tmp_path_factory):
    """(path, current roots at v_latest, materializations to try)."""
    if request.param == "tiny":
        import tiny

        path = tiny.build(tmp_path_factory.mktemp("prop") / "tiny")
    else:
        from napari_crant.demo import TINY_NEURONS, make_demo

        path = str(make_demo(tmp_path_factory.mktemp("prop") / "demo", n_neurons=TINY_NEURONS, seed=3))
    src = SnapshotSource(path)
    roots = src.roots_table()
    versions = src.versions()
    latest_ts = versions[versions["valid"]]["timestamp"].max()
    expired = roots["expired"]
    alive = roots[(roots["created"] <= latest_ts) & (expired.isna() | (expired > latest_ts))]
    return path, np.sort(alive["root_id"].to_numpy(np.uint64))


def id_sets(roots, max_size=6):
    return st.lists(st.sampled_from(list(roots)), min_size=1, max_size=max_size)


def _union_synapses(ids, path, **kw):
    parts = [nc.get_synapses(pre_ids=ids, dataset=path, **kw),
             nc.get_synapses(post_ids=ids, dataset=path, **kw)]
    return pd.concat(parts).drop_duplicates("id")


@given(data=st.data())
@SETTINGS
def test_weights_sum_to_synapse_rows(snap, data):
    path, roots = snap
    ids = data.draw(id_sets(roots))
    min_size = data.draw(st.sampled_from([None, 50, 500]))
    cn = nc.get_connectivity(ids, min_size=min_size, dataset=path)
    syn = _union_synapses(ids, path, min_size=min_size)
    assert cn["weight"].sum() == len(syn)
    assert (cn["weight"] >= 1).all()
    assert not (cn["pre"] == cn["post"]).any()
    assert (cn["pre"].isin(ids) | cn["post"].isin(ids)).all()


@given(data=st.data())
@SETTINGS
def test_results_do_not_depend_on_input_order_or_duplicates(snap, data):
    path, roots = snap
    ids = data.draw(id_sets(roots))
    shuffled = data.draw(st.permutations(ids)) + ids[:1]
    threshold = data.draw(st.integers(1, 3))
    a = nc.get_connectivity(ids, threshold=threshold, dataset=path)
    b = nc.get_connectivity(shuffled, threshold=threshold, dataset=path)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(nc.get_adjacency(ids, ids, dataset=path),
                                  nc.get_adjacency(shuffled, shuffled, dataset=path))


@given(data=st.data())
@SETTINGS
def test_adjacency_agrees_with_connectivity(snap, data):
    path, roots = snap
    ids = data.draw(id_sets(roots))
    threshold = data.draw(st.integers(1, 3))
    adj = nc.get_adjacency(ids, ids, threshold=threshold, symmetric=True, dataset=path)
    cn = nc.get_connectivity(ids, threshold=threshold, dataset=path)
    inside = cn[cn["pre"].isin(ids) & cn["post"].isin(ids)]
    assert adj.to_numpy().sum() == inside["weight"].sum()
    for pre, post, w in inside.itertuples(index=False):
        assert adj.loc[pre, post] == w


@given(data=st.data())
@SETTINGS
def test_counts_agree_with_connectivity(snap, data):
    path, roots = snap
    ids = data.draw(id_sets(roots, 4))
    threshold = data.draw(st.integers(1, 3))
    counts = nc.get_synapse_counts(ids, threshold=threshold, dataset=path)
    cn = nc.get_connectivity(ids, threshold=threshold, dataset=path)
    for rid in pd.unique(np.asarray(ids, np.uint64)):
        row = counts.loc[rid]
        assert row["pre_synapses"] == cn.loc[cn["pre"] == rid, "weight"].sum()
        assert row["post_synapses"] == cn.loc[cn["post"] == rid, "weight"].sum()
        assert row["downstream_partners"] == (cn["pre"] == rid).sum()
        assert row["upstream_partners"] == (cn["post"] == rid).sum()


def test_every_version_partitions_the_synapses(snap):
    """At any moment each synapse has exactly one pre root: connectivity of all roots covers all."""
    path, roots = snap
    syn_all = nc.get_synapses(pre_ids=roots, clean=False, dataset=path)
    src = SnapshotSource(path)
    assert len(syn_all) == len(src._synapses)
