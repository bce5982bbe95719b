"""The single-neuron fast path of ``get_connectivity`` (one column read per side, the result
frame built from arrays) returns exactly what the general path returns."""

from __future__ import annotations

import numpy as np
import pytest

import napari_crant as nc
from connectivity_reference import FLAGS, assert_same_frame, general_path
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.materialization import resolve_materialization
from napari_crant.queries.update import UnknownIDError
from napari_crant.sources.base import DataSource
from napari_crant.sources.snapshot import SnapshotSource
from tiny import UNKNOWN


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    return str(make_demo(tmp_path_factory.mktemp("fast") / "demo", n_neurons=TINY_NEURONS, seed=7))


def _roots(path: str, materialization, alive: bool = True) -> list[int]:
    src = SnapshotSource(path)
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    status = src.root_status(roots, resolve_materialization(src, materialization))[1]
    return [int(r) for r in roots[status == alive]]


def _check(path: str, roots: list[int], materialization) -> int:
    rows = 0
    for root in roots:
        assert root > 10**17  # realistic 18-digit IDs
        for (upstream, downstream), clean, min_size, threshold in FLAGS:
            got = nc.get_connectivity(root, upstream=upstream, downstream=downstream, clean=clean,
                                      min_size=min_size, threshold=threshold,
                                      materialization=materialization, dataset=path)
            want = general_path(path, root, upstream, downstream, clean, min_size, threshold,
                                materialization)
            assert_same_frame(got, want)
            rows += len(want)
    return rows


@pytest.mark.parametrize("materialization", ["latest", 2, "live"])
def test_tiny_every_root(tiny_path, materialization):
    assert _check(tiny_path, _roots(tiny_path, materialization), materialization) > 0


@pytest.mark.parametrize("materialization", ["latest", 2])
def test_demo_neurons(demo_path, materialization):
    roots = _roots(demo_path, materialization)
    picked = np.random.default_rng(1).choice(roots, 8, replace=False).tolist()
    assert _check(demo_path, picked, materialization) > 100


def test_outdated_id_is_mapped_like_the_general_path(tiny_path):
    """An ID not alive at the moment goes through update_ids, then the fast path."""
    for root in _roots(tiny_path, "latest", alive=False):
        got = nc.get_connectivity(root, dataset=tiny_path)
        assert_same_frame(got, general_path(tiny_path, root, True, True, True, None, 1, "latest"))


def test_id_not_in_the_dataset(tiny_path):
    with pytest.raises(UnknownIDError, match=str(int(UNKNOWN))):
        nc.get_connectivity(int(UNKNOWN), dataset=tiny_path)


def test_neuron_without_synapses_gives_an_empty_typed_frame(demo_path):
    src = SnapshotSource(demo_path)
    at = resolve_materialization(src, "latest")
    lonely = [r for r in _roots(demo_path, "latest")
              if not any(len(p) for p in src.partner_roots(r, at).values())]
    assert lonely
    for root in lonely[:3]:
        got = nc.get_connectivity(root, dataset=demo_path)
        assert len(got) == 0
        assert_same_frame(got, general_path(demo_path, root, True, True, True, None, 1, "latest"))


@pytest.mark.parametrize("materialization", ["latest", 2])
def test_partner_roots_equal_the_generic_read(demo_path, materialization):
    """The snapshot's one-column read equals ``DataSource.partner_roots`` (through
    ``synapse_columns``) as a multiset, on both sides, at the layout moment and before it."""
    src = SnapshotSource(demo_path)
    at = resolve_materialization(src, materialization)
    compared = 0
    for root in _roots(demo_path, materialization)[:25] + _roots(demo_path, materialization, alive=False)[:5]:
        for sides in (("pre", "post"), ("post", "pre"), ("pre",), ("post",)):
            got = src.partner_roots(root, at, sides)
            want = DataSource.partner_roots(src, root, at, sides)
            assert list(got) == list(sides)
            for side in sides:
                assert got[side].dtype == np.uint64
                np.testing.assert_array_equal(np.sort(got[side]), np.sort(want[side]), strict=True)
                compared += len(want[side])
    assert compared > 100
