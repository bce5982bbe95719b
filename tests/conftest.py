"""Shared fixtures: a hand-built tiny snapshot, an isolated cache and dataset registry."""

from __future__ import annotations

import os

import pytest

import tiny

# Never read a user's real CAVE token or cache during tests.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("snap") / "tiny")


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    from napari_crant import datasets
    from napari_crant.queries.update import clear_update_cache

    monkeypatch.setenv("NAPARI_CRANT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("NAPARI_CRANT_DATASET", raising=False)
    datasets.set_default_dataset(None)
    clear_update_cache()
    yield
    datasets.set_default_dataset(None)


@pytest.fixture
def tiny_loaded(tiny_path):
    """Two neurons of the tiny dataset loaded for the viewer (A0, edited since, and B2)."""
    from napari_crant.scene.loading import load_neurons, run_to_end

    return run_to_end(load_neurons([str(tiny.A0), int(tiny.B2)], dataset=tiny_path))


@pytest.fixture
def tiny_scene(tiny_loaded):
    """A :class:`~napari_crant.scene.layer_data.Scene` holding :func:`tiny_loaded`."""
    from napari_crant.scene.layer_data import Scene

    scene = Scene()
    scene.add(tiny_loaded)
    return scene
