"""The single-neuron result's pieces: the edge frame built from its blocks
(``queries/edge_frame.py``) and the merge of a neuron's partners into ordered edges
(``queries/one_neuron.py``), each against a plain reference."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from connectivity_reference import assert_same_frame
from napari_crant.queries import edge_frame as ef
from napari_crant.queries.one_neuron import distinct_counts, merged_edges

BASE = np.uint64(576_460_752_400_000_000)  # realistic 18-digit IDs


def _ids_and_weight(n: int) -> tuple[np.ndarray, np.ndarray]:
    pre = np.arange(n, dtype=np.uint64) + BASE + np.uint64(2**59)
    post = pre[::-1].copy()
    return np.stack((pre, post)), (np.arange(n, dtype=np.int64) * 3) % 5


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
@pytest.mark.parametrize("build", [ef.edge_frame, ef.public_edge_frame])
def test_edge_frame_equals_the_public_constructor(n, build):
    ids, weight = _ids_and_weight(n)
    want = pd.DataFrame({"pre": ids[0].copy(), "post": ids[1].copy(), "weight": weight.copy()})
    got = build(ids, weight)
    assert_same_frame(got, want)
    assert got["pre"].to_numpy().flags.writeable
    got.columns.name = "renamed"  # the result's columns and index are its own
    got.index.name = "row"
    assert ef.EDGE_COLUMNS.name is None
    assert build(*_ids_and_weight(n)).index.name is None
    assert list(ef.EDGE_COLUMNS) == ["pre", "post", "weight"]


def test_edge_frame_uses_blocks_in_this_pandas():
    """The supported pandas builds from blocks (the speed this module is for)."""
    assert ef.uses_blocks()
    frame = ef.edge_frame(*_ids_and_weight(5))
    assert frame._mgr.is_consolidated() and len(frame._mgr.blocks) == 2


def test_a_pandas_without_the_internals_falls_back_to_the_public_constructor(monkeypatch):
    def missing():
        raise ImportError("no BlockManager in this pandas")

    monkeypatch.setattr(ef, "_block_builder", missing)
    assert ef._checked_builder() is ef.public_edge_frame


def test_a_pandas_whose_blocks_build_another_frame_falls_back(monkeypatch):
    """The one-time check compares with the public constructor: a builder giving anything else
    (here float weights) is not used."""
    real = ef._block_builder

    def wrong():
        build = real()
        return lambda ids, weight: build(ids, weight).astype({"weight": float})

    monkeypatch.setattr(ef, "_block_builder", wrong)
    assert ef._checked_builder() is ef.public_edge_frame


def _reference_edges(root, outputs, inputs, clean, upstream, downstream):
    """Union of both sides' synapses, filtered, counted by pair, ordered: the plain way."""
    pre = np.concatenate((np.full(len(outputs), root, np.uint64), inputs))
    post = np.concatenate((outputs, np.full(len(inputs), root, np.uint64)))
    keep = np.ones(len(pre), bool)
    if clean:
        keep &= (pre != post) & (pre != 0) & (post != 0)
    if downstream and upstream:  # an autapse is on both sides: count it once (its output copy)
        keep[len(outputs):] &= inputs != root
    pairs = pd.DataFrame({"pre": pre[keep], "post": post[keep]}).groupby(["pre", "post"]).size()
    out = pd.DataFrame({"pre": pairs.index.get_level_values(0).to_numpy(np.uint64),
                        "post": pairs.index.get_level_values(1).to_numpy(np.uint64),
                        "weight": pairs.to_numpy(np.int64)})
    return out.sort_values(["weight", "pre", "post"], ascending=[False, True, True],
                           kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(("clean", "sides"), list(itertools.product(
    [True, False], [(True, True), (True, False), (False, True)])))
def test_merged_edges_equal_the_plain_count(seed, clean, sides):
    """Partners on both sides of the root, the root itself (autapses) and 0, with ties."""
    upstream, downstream = sides
    rng = np.random.default_rng(seed)
    root = BASE + np.uint64(50)
    pool = np.concatenate(([0, 50, 50], rng.integers(1, 100, 30))).astype(np.uint64)
    pool = np.where(pool == 0, np.uint64(0), pool + BASE)
    outputs = rng.choice(pool, rng.integers(0, 60)) if downstream else np.zeros(0, np.uint64)
    inputs = rng.choice(pool, rng.integers(0, 60)) if upstream else np.zeros(0, np.uint64)
    ids, weight = merged_edges(root, *distinct_counts(outputs), *distinct_counts(inputs),
                               drop_zero=clean, drop_self_out=clean, drop_self_in=clean or downstream)
    assert ids.dtype == np.uint64 and ids.flags.c_contiguous and weight.dtype == np.int64
    assert_same_frame(pd.DataFrame({"pre": ids[0], "post": ids[1], "weight": weight}),
                      _reference_edges(root, outputs, inputs, clean, upstream, downstream))
