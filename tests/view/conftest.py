"""Fixtures of the view tests: two neurons of the tiny dataset, loaded, and their scene."""

import pytest

import tiny
from napari_crant.view.layer_data import Scene
from napari_crant.view.loading import load_neurons, run_to_end


@pytest.fixture
def result(tiny_path):
    return run_to_end(load_neurons([str(tiny.A0), int(tiny.B2)], dataset=tiny_path))


@pytest.fixture
def scene(result):
    s = Scene()
    s.add(result)
    return s
