"""Loading neurons for the viewer (``napari_crant.scene.loading``) on the tiny dataset."""

import pandas as pd

import tiny
from napari_crant.scene import loading
from napari_crant.scene.loading import load_neurons, pick_demo_neuron, update_messages


def test_load_resolves_and_reports_updated_ids(tiny_loaded):
    assert tiny_loaded.updated == {int(tiny.A0): int(tiny.A2)}
    assert [n.root_id for n in tiny_loaded.neurons] == [int(tiny.A2), int(tiny.B2)]
    assert tiny_loaded.neurons[0].query_id == int(tiny.A0)
    assert update_messages(tiny_loaded.updated) == [f"{tiny.A0} was edited; showing {tiny.A2} instead"]
    assert tiny_loaded.provenance["materialization_version"] == 3
    assert tiny_loaded.provenance["filters"]["threshold"] == 1


def test_load_progress_and_top_partners(tiny_path):
    gen = load_neurons([int(tiny.A2)], dataset=tiny_path, top_partners=1)
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            res = stop.value
            break
    assert all(isinstance(m, str) for _, _, m in steps)
    # A2's strongest partner is B2 (1+2+3+5 from A2, 12 back: 5 synapses)
    assert [n.root_id for n in res.neurons] == [int(tiny.A2), int(tiny.B2)]


def test_pick_demo_neuron_on_tiny(tiny_path):
    root = pick_demo_neuron(tiny_path)
    assert root in (int(tiny.A2), int(tiny.B2))


def test_current_annotations_are_cached_then_expire(tiny_path, monkeypatch):
    from napari_crant.materialization import resolve_materialization
    from napari_crant.sources.snapshot import SnapshotSource

    src = SnapshotSource(tiny_path)
    at = resolve_materialization(src, "latest")
    calls = []
    original = src.annotations
    monkeypatch.setattr(src, "annotations", lambda: (calls.append(1), original())[1])
    loading._ANNOTATION_CACHE.clear()
    first = loading.current_annotations(src, at)
    again = loading.current_annotations(src, at)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, again)
    monkeypatch.setattr(loading, "ANNOTATION_CACHE_S", -1.0)  # everything is stale
    loading.current_annotations(src, at)
    assert len(calls) == 2
