"""The synapse dots' level of detail on the canvas (issue 11, "300 neurons"): beyond the limit a
stable subsample of the dots in view is drawn and said so; zooming in draws more, then every dot;
the legend's hidden neurons stay hidden; the limit follows the renderer and the Preferences."""

import math

import numpy as np
import pytest

from napari_crant._qt.dot_lod import renderer_name
from napari_crant._qt.session import find_layers, get_session
from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.scene.dot_budget import SOFTWARE_DOT_LIMIT, dot_ranks, is_software_renderer
from napari_crant.scene.loading import load_neurons, run_to_end
from napari_crant.sources.snapshot import SnapshotSource


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("dots") / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return str(out)


def _roots(demo, n=12):
    ann = SnapshotSource(demo).annotations()
    return [int(r) for r in ann["root_id"].to_numpy(np.uint64)[:n]]


def _load(qtbot, viewer, demo, limit):
    session = get_session(viewer)
    session.params.dataset = demo
    session.dots.set_limit(limit)
    session.add(run_to_end(load_neurons(_roots(demo), **session.params.load_kwargs())))
    qtbot.waitUntil(lambda: not session.drawing, timeout=60_000)
    return session


def _dot_layers(viewer):
    return [layer for kind in ("pre", "post") for layer in find_layers(viewer, kind)]


def _total(viewer):
    return sum(len(layer.data) for layer in _dot_layers(viewer))


def _drawn(viewer):
    return sum(int(np.count_nonzero(layer.shown)) for layer in _dot_layers(viewer))


def _overlay(viewer):
    return viewer.canvas.overlays.text if hasattr(viewer, "canvas") else viewer.text_overlay


def test_too_many_dots_draw_a_stable_subsample_and_say_so(qtbot, make_napari_viewer, demo):
    viewer = make_napari_viewer(show=True)
    probe = get_session(viewer)
    probe.params.dataset = demo
    total = sum(len(n.synapses) for n in run_to_end(
        load_neurons(_roots(demo), **probe.params.load_kwargs())).neurons)
    limit = total // 6
    session = _load(qtbot, viewer, demo, limit)
    budget = session.dots.budget
    assert _total(viewer) == total and budget.in_view == total  # the fitted view shows every dot
    assert 0 < budget.fraction < 1 and budget.fraction * total <= limit
    drawn = _drawn(viewer)
    expected = budget.fraction * total
    assert abs(drawn - expected) < 4 * math.sqrt(expected) + 2
    for layer in _dot_layers(viewer):  # the dots drawn are those whose rank is below the fraction
        assert np.array_equal(layer.shown, dot_ranks(layer.data) < budget.fraction)
    overlay = _overlay(viewer)
    assert overlay.visible and f"1 in {round(1 / budget.fraction)}" in overlay.text
    assert f"{total:,} in view" in overlay.text
    before = [layer.shown.copy() for layer in _dot_layers(viewer)]
    session.set_color_by("partner")  # layers written again: the same dots are drawn
    qtbot.waitUntil(lambda: not session.drawing, timeout=30_000)
    assert all(np.array_equal(a, layer.shown) for a, layer in zip(before, _dot_layers(viewer), strict=True))


def test_zooming_in_draws_more_and_then_every_dot(qtbot, make_napari_viewer, demo):
    viewer = make_napari_viewer(show=True)
    session = _load(qtbot, viewer, demo, 40)
    budget = session.dots.budget
    fitted = budget.fraction
    assert fitted < 1
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    # zoom in on one synapse until at most 40 dots are in view
    target = np.asarray(find_layers(viewer, "post")[0].data)[0]
    camera.center = tuple(target)
    camera.zoom = camera.zoom * 400
    qtbot.waitUntil(lambda: budget.fraction == 1.0, timeout=10_000)
    assert budget.in_view <= 40 and budget.outside == fitted
    assert not _overlay(viewer).visible
    # every dot around the view is drawn; farther away only the sparse overview's (not every dot
    # off screen: they would cost as much as drawn ones with software OpenGL)
    axes, low, high = session.dots._region
    assert all(lo <= c <= hi for c, lo, hi in zip(target[list(axes)], low, high, strict=True))
    near_total = far_drawn = far_total = 0
    for layer in _dot_layers(viewer):
        pos = np.asarray(layer.data)
        near = np.all([(pos[:, a] >= lo) & (pos[:, a] <= hi)
                       for a, lo, hi in zip(axes, low, high, strict=True)], axis=0)
        assert layer.shown[near].all()
        assert np.array_equal(layer.shown[~near], dot_ranks(pos[~near]) < fitted)
        near_total += int(near.sum())
        far_drawn, far_total = far_drawn + int(layer.shown[~near].sum()), far_total + int((~near).sum())
    assert 0 < near_total <= 40 and far_drawn < far_total
    # panning far away (a view's width) makes the region again around the new view
    old_region = session.dots._region
    camera.center = tuple(np.asarray(camera.center) + np.array([0.0, 0.0, 2 * (high[1] - low[1])]))
    qtbot.waitUntil(lambda: session.dots._region != old_region, timeout=10_000)
    viewer.reset_view()
    qtbot.waitUntil(lambda: budget.fraction == fitted, timeout=10_000)
    assert _drawn(viewer) < _total(viewer) and _overlay(viewer).visible


def test_hidden_neurons_stay_hidden_under_the_budget(qtbot, make_napari_viewer, demo):
    viewer = make_napari_viewer(show=True)
    session = _load(qtbot, viewer, demo, 60)
    hidden = session.model.entries[0].root_id
    session.model.set_visible(hidden, False)
    fraction = session.dots.budget.fraction
    for layer in _dot_layers(viewer):
        roots = layer.features["root_id"].to_numpy().astype(np.uint64)
        assert not layer.shown[roots == hidden].any()
        lod = dot_ranks(layer.data) < fraction if fraction < 1 else np.ones(len(layer.data), bool)
        assert np.array_equal(layer.shown[roots != hidden], lod[roots != hidden])
    session.model.show_all()
    fraction = session.dots.budget.fraction
    for layer in _dot_layers(viewer):
        assert np.array_equal(layer.shown, dot_ranks(layer.data) < fraction)


def test_limit_off_draws_every_dot_and_leaves_the_users_own_text(qtbot, make_napari_viewer, demo):
    viewer = make_napari_viewer(show=True)
    session = _load(qtbot, viewer, demo, 50)
    assert _drawn(viewer) < _total(viewer)
    session.dots.set_limit(0)
    assert session.dots.budget.limit is None
    assert _drawn(viewer) == _total(viewer) and not _overlay(viewer).visible
    overlay = _overlay(viewer)
    overlay.text, overlay.visible = "my own note", True
    session.dots.set_limit(50)
    assert _drawn(viewer) < _total(viewer)
    assert overlay.text == "my own note"  # the user's text is not replaced


def test_the_automatic_limit_follows_the_renderer(qtbot, make_napari_viewer, demo):
    viewer = make_napari_viewer(show=True)
    session = _load(qtbot, viewer, demo, 50)
    session.dots.set_limit(-1)  # automatic, as the Preferences' default
    name = renderer_name(viewer)
    assert name  # the canvas's OpenGL context was read
    if is_software_renderer(name):
        assert session.dots.budget.limit == SOFTWARE_DOT_LIMIT
        assert name.split(" (")[0] in session.dots.budget.reason
    else:
        assert session.dots.budget.limit is None
    assert _drawn(viewer) == _total(viewer)  # the tiny demo's dots fit either limit
