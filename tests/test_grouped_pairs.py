"""``grouped_pair_totals`` (per-group row sorts) equals counting pairs with a plain groupby."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_crant.queries.grouped_pairs import grouped_pair_totals

BASE = np.uint64(720575940379279360)  # 18-digit IDs


def _reference(group, partner, threshold):
    pairs = pd.DataFrame({"g": group, "p": partner}).groupby(["g", "p"], sort=False).size()
    pairs = pairs[pairs >= threshold]
    by_group = pairs.groupby(level=0, sort=False)
    groups = pd.unique(group)
    synapses = by_group.sum().reindex(groups, fill_value=0).to_numpy(np.int64)
    partners = by_group.size().reindex(groups, fill_value=0).to_numpy(np.int64)
    return groups, synapses, partners


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [1, 2, 5])
def test_equals_a_groupby(seed, threshold):
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(1, 300))
    # lengths from 1 to thousands (many buckets), partners from a few to many distinct IDs
    lengths = np.maximum(1, rng.lognormal(4, 1.5, n_groups).astype(np.int64))
    ids = BASE + np.sort(rng.choice(2**50, n_groups, replace=False)).astype(np.uint64)
    group = np.repeat(rng.permutation(ids), lengths)
    pool = BASE + rng.choice(2**50, int(rng.integers(2, 5000)), replace=False).astype(np.uint64)
    partner = pool[rng.integers(0, len(pool), len(group))]
    partner[rng.random(len(group)) < 0.01] = np.iinfo(np.uint64).max  # the padding value itself
    got = grouped_pair_totals(group, partner, threshold)
    want = _reference(group, partner, threshold)
    assert got is not None
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    assert got[1].dtype == got[2].dtype == np.int64 and got[0].dtype == np.uint64


def test_groups_not_contiguous_are_left_to_the_caller():
    group = np.array([1, 1, 2, 1], np.uint64) + BASE
    assert grouped_pair_totals(group, np.arange(4, dtype=np.uint64), 1) is None


def test_empty_and_single_row():
    empty = grouped_pair_totals(np.zeros(0, np.uint64), np.zeros(0, np.uint64), 1)
    assert [len(a) for a in empty] == [0, 0, 0]
    one = grouped_pair_totals(np.array([BASE]), np.array([BASE + np.uint64(1)]), 1)
    assert [a.tolist() for a in one] == [[int(BASE)], [1], [1]]
    assert [a.tolist() for a in grouped_pair_totals(np.array([BASE]), np.array([BASE]), 2)] == [
        [int(BASE)], [0], [0]]


@pytest.mark.parametrize("threshold", [1, 3])
def test_neighbouring_groups_with_the_same_partner_stay_apart(threshold):
    lengths = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3])
    group = np.repeat(BASE + np.arange(len(lengths), dtype=np.uint64) * np.uint64(7), lengths)
    partner = np.full(len(group), BASE + np.uint64(99))
    got = grouped_pair_totals(group, partner, threshold)
    heavy = lengths >= threshold
    assert got[1].tolist() == np.where(heavy, lengths, 0).tolist()
    assert got[2].tolist() == heavy.astype(int).tolist()
