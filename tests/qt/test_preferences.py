"""The Preferences page: extra CAVE servers and the default dataset reach the query dock."""

import json
import os

import pytest

import napari_crant as nc
from napari_crant._qt.preferences import apply_preferences
from napari_crant.sources import cave


class Prefs:
    def __init__(self, **kw):
        self.default_dataset = kw.get("default_dataset", "demo")
        self.cave_servers = kw.get("cave_servers", "")
        self.cave_timeout = kw.get("cave_timeout", 120)


@pytest.fixture
def clean_registry():
    yield
    cave.unregister_cave_dataset("lab")


def test_servers_and_default_dataset_are_applied(clean_registry, tiny_path):
    servers = {"lab": {"server_address": "http://127.0.0.1:9", "datastack": "lab_ds",
                       "synapse_table": "syn_v1"}}
    assert apply_preferences(Prefs(cave_servers=json.dumps(servers), cave_timeout=7,
                                   default_dataset=tiny_path)) == []
    cfg = cave.cave_dataset_config("lab")
    assert (cfg.datastack, cfg.synapse_table, cfg.timeout) == ("lab_ds", "syn_v1", 7.0)
    assert nc.get_default_dataset() == tiny_path
    assert "lab" in cave.cave_dataset_names()


def test_environment_wins_over_preferences(monkeypatch, tiny_path):
    monkeypatch.setenv("NAPARI_CRANT_DATASET", "demo")
    assert apply_preferences(Prefs(default_dataset=tiny_path)) == []
    assert nc.get_default_dataset() == "demo"


@pytest.mark.parametrize(
    ("servers", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "must be an object"),
        ('{"lab": {"datastack": "x"}}', "lacks server_address"),
        ('{"lab": {"server_address": "http://x", "datastack": "x", "auth_token": "s3cret"}}',
         "holds a token"),
        ('{"lab": {"server_address": "http://x", "datastack": "x", "colour": 1}}', "unknown field"),
    ],
)
def test_bad_preferences_are_reported_not_raised(clean_registry, servers, problem):
    problems = apply_preferences(Prefs(cave_servers=servers))
    assert len(problems) == 1 and problem in problems[0]
    assert "s3cret" not in problems[0]
    assert "lab" not in cave.cave_dataset_names()


def test_query_dock_shows_preference_problems(qtbot, make_napari_viewer, monkeypatch):
    from napari_crant._qt import preferences
    from napari_crant._qt.query_widget import QueryWidget

    monkeypatch.setattr(preferences, "read_preferences", lambda: Prefs(cave_servers="{oops"))
    widget = QueryWidget(make_napari_viewer())  # the page is read in a worker once the dock is up
    qtbot.waitUntil(lambda: "not valid JSON" in widget.message.value, timeout=30_000)
    assert widget.opening.preference_problems and "not valid JSON" in widget.opening.preference_problems[0]
    qtbot.waitUntil(lambda: not widget.workers, timeout=60_000)


def test_manifest_declares_the_preferences_page():
    from napari.settings import _clear_plugin_settings_cache, get_plugin_settings

    _clear_plugin_settings_cache()
    try:
        settings = get_plugin_settings("napari-crant", path_dir=None)
        assert settings.datasets.default_dataset == "demo"
        assert settings.datasets.cave_timeout == 120
    finally:
        _clear_plugin_settings_cache()
    assert os.environ.get("NAPARI_CRANT_DATASET") is None
