"""``get_connectivity`` of one neuron (its own fast path) equals the pairs counted from
``get_synapses``, for every flag, at the layout moment and at older versions."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import napari_crant as nc
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.materialization import resolve_materialization
from napari_crant.sources.snapshot import SnapshotSource

FLAGS = list(itertools.product(
    [(True, True), (True, False), (False, True)],  # (upstream, downstream)
    [True, False],  # clean
    [None, 300],  # min_size
))


def _reference(path, root, upstream, downstream, clean, min_size, materialization) -> pd.DataFrame:
    kw = {"clean": False, "materialization": materialization, "update_ids": False, "dataset": path,
          "min_size": min_size, "return_pixels": False}
    parts = []
    if downstream:
        parts.append(nc.get_synapses(pre_ids=[root], **kw))
    if upstream:
        parts.append(nc.get_synapses(post_ids=[root], **kw))
    syn = pd.concat(parts).drop_duplicates("id")
    pre, post = syn["pre_pt_root_id"].to_numpy(np.uint64), syn["post_pt_root_id"].to_numpy(np.uint64)
    if clean:
        keep = (pre != post) & (pre != 0) & (post != 0)
        pre, post = pre[keep], post[keep]
    pairs = pd.DataFrame({"pre": pre, "post": post}).groupby(["pre", "post"]).size()
    out = pd.DataFrame({"pre": pairs.index.get_level_values(0).to_numpy(np.uint64),
                        "post": pairs.index.get_level_values(1).to_numpy(np.uint64),
                        "weight": pairs.to_numpy(np.int64)})
    order = np.lexsort((out["post"], out["pre"], -out["weight"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def _alive_roots(path: str, materialization) -> np.ndarray:
    src = SnapshotSource(path)
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    return roots[src.root_status(roots, resolve_materialization(src, materialization))[1]]


def _check(path: str, roots: np.ndarray, materialization) -> int:
    compared = 0
    for root in roots.tolist():
        for (upstream, downstream), clean, min_size in FLAGS:
            got = nc.get_connectivity(root, upstream=upstream, downstream=downstream, clean=clean,
                                      min_size=min_size, materialization=materialization,
                                      update_ids=False, dataset=path)
            want = _reference(path, root, upstream, downstream, clean, min_size, materialization)
            assert [str(d) for d in got.dtypes] == ["uint64", "uint64", "int64"]
            pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_index_type=False)
            compared += len(want)
    return compared


@pytest.mark.parametrize("materialization", ["latest", 2, "live"])
def test_every_root_of_the_tiny_dataset(tiny_path, materialization):
    assert _check(tiny_path, _alive_roots(tiny_path, materialization), materialization) > 0


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return str(make_demo(tmp_path_factory.mktemp("one") / "demo", n_neurons=TINY_NEURONS, seed=5))


@pytest.mark.parametrize("materialization", ["latest", 2])
def test_demo_neurons(demo_path, materialization):
    roots = _alive_roots(demo_path, materialization)
    rng = np.random.default_rng(0)
    picked = rng.choice(roots, min(12, len(roots)), replace=False)
    assert _check(demo_path, picked, materialization) > 100


@pytest.mark.parametrize("values", [[], [7], [3, 3, 3], [2**63 + 5, 1, 2**63 + 5, 0, 1, 1],
                                    list(np.random.default_rng(3).integers(0, 40, 500))])
def test_distinct_counts_equal_numpy_unique(values):
    from napari_crant.queries.one_neuron import distinct_counts as _distinct_counts

    arr = np.array(values, dtype=np.uint64) + np.uint64(576_460_752_400_000_000)
    uniq, counts = _distinct_counts(arr)
    want_uniq, want_counts = np.unique(arr, return_counts=True)
    np.testing.assert_array_equal(uniq, want_uniq, strict=True)
    np.testing.assert_array_equal(counts, want_counts.astype(np.int64), strict=True)


@pytest.mark.parametrize("n, top", [(10, 50), (600, 50), (5_000, 3_000), (700, 70_000)])
def test_heaviest_first_is_a_stable_sort_of_minus_weight(n, top):
    """The radix path (many edges, weights below 2**16) and the plain one give the same order:
    heaviest first, ties in their given order."""
    from napari_crant.queries.one_neuron import heaviest_first

    weight = np.random.default_rng(n).integers(1, top, n).astype(np.int64)
    weight[: n // 3] = weight[n // 3]  # many ties
    np.testing.assert_array_equal(heaviest_first(weight), np.argsort(-weight, kind="stable"))
