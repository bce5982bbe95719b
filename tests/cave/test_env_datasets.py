"""CAVE datasets named only in NAPARI_CRANT_CAVE_SERVERS work as ``dataset=name`` everywhere."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from cave_helpers import TOKEN

import napari_crant as nc
from napari_crant import datasets
from napari_crant.sources.cave import CaveAuthError, CaveSource
from tiny import A2


@pytest.fixture
def env_dataset(tiny_server, monkeypatch):
    entry = {"envcave": {"server_address": tiny_server.url, "datastack": tiny_server.datastack,
                         "timeout": 20.0}}
    monkeypatch.setenv("NAPARI_CRANT_CAVE_SERVERS", json.dumps(entry))
    yield "envcave"
    datasets.close_datasets()


def test_env_dataset_is_a_known_name(env_dataset):
    datasets.set_default_dataset(env_dataset)  # accepted, not "unknown dataset"
    assert datasets.get_default_dataset() == "envcave"


def test_env_dataset_without_saved_token_says_how_to_get_one(env_dataset, isolated_home):
    # HOME is a fresh temporary directory: no token is found, none is sent
    with pytest.raises(CaveAuthError) as e:
        nc.get_connectivity(A2, dataset=env_dataset)
    assert "token" in str(e.value).lower() and TOKEN not in str(e.value)


def test_env_dataset_with_token_answers_like_the_snapshot(env_dataset, tiny_path):
    src = datasets.get_source(env_dataset)
    assert isinstance(src, CaveSource)
    cave = CaveSource(src.config, auth_token=TOKEN)
    pd.testing.assert_frame_equal(nc.get_connectivity(A2, dataset=cave),
                                  nc.get_connectivity(A2, dataset=tiny_path))
