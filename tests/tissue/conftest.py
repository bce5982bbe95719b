"""A tiny demo snapshot with its skeleton nodes, and its tissue geometry."""

from __future__ import annotations

import pytest

from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.tissue._bridge import _nodes_from_generator
from napari_crant.tissue.geometry import TissueGeometry, write_skeleton_nodes


@pytest.fixture(scope="session")
def tissue_snapshot(tmp_path_factory):
    out = tmp_path_factory.mktemp("tissue") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    write_skeleton_nodes(_nodes_from_generator(TINY_NEURONS, 3), out)
    return out


@pytest.fixture(scope="session")
def geom(tissue_snapshot):
    return TissueGeometry.from_snapshot(tissue_snapshot)
