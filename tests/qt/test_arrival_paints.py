"""How an arrival reaches the screen (issue 11, "300 neurons" and "one neuron" stalls): each
batch of a big arrival is painted before the next is written (its shaders are built then, not
all in the last paint), a write and the paint it causes are two stalls with the event loop run
between them, and the dot notice's glyphs are made ahead, so the paint that first shows the
notice makes none."""

import pytest
from qtpy.QtCore import QTimer

import tiny
from conftest import run_load, wait_dock_ready  # tests/qt/conftest.py
from napari_crant._qt import layer_batches
from napari_crant._qt.glyph_warmup import LAYOUT_CHARACTERS, GlyphWarmup, canvas_font
from napari_crant._qt.query_widget import QueryWidget
from napari_crant._qt.session import get_session

A2, B2, CD = int(tiny.A2), int(tiny.B2), int(tiny.CD)


@pytest.fixture
def shown(qtbot, make_napari_viewer, tiny_path):
    """A shown viewer (its canvas paints) with the query dock on the tiny demo."""
    viewer = make_napari_viewer(show=True)
    query = QueryWidget(viewer)
    viewer.window.add_dock_widget(query, name="Query neurons")
    query.dataset.value = tiny_path
    wait_dock_ready(qtbot, query)
    yield viewer, query
    qtbot.waitUntil(lambda: not query.workers, timeout=30_000)


def _draws(viewer, record):
    """Call ``record()`` at each draw of the canvas's scene (not at re-compositions of the window)."""
    scene = viewer.window._qt_viewer.canvas._scene_canvas
    scene.events.draw.connect(lambda event: record())


def test_each_batch_is_painted_before_the_next_is_written(qtbot, shown, monkeypatch):
    viewer, query = shown
    monkeypatch.setattr(layer_batches, "BATCH_NEURONS", 1)  # three neurons, three batches
    monkeypatch.setattr(layer_batches, "TURN_POINTS", 1)  # one layer a turn
    session = get_session(viewer)
    written_at_draws = []
    _draws(viewer, lambda: written_at_draws.append(len(session.batches.writes)))
    before = len(session.batches.writes)
    query.ids.value = f"{A2} {B2} {CD}"
    run_load(qtbot, query)
    qtbot.waitUntil(lambda: not session.drawing, timeout=30_000)
    qtbot.waitUntil(lambda: bool(written_at_draws) and written_at_draws[-1] == before + 12,
                    timeout=10_000)
    assert len(session.batches.batches) == 3
    seen = set(written_at_draws)
    # drawn with the first batch written and not the second, then with two and not the third
    assert before + 4 in seen and before + 8 in seen, written_at_draws


def test_a_write_and_its_paint_are_two_stalls(qtbot, shown, monkeypatch):
    """A heartbeat timer ticks between a write turn and the paint it causes: input and timers
    are handled between the write and the paint, which are not one long stall."""
    from qtpy.QtCore import Qt

    viewer, query = shown
    monkeypatch.setattr(layer_batches, "TURN_POINTS", 1)  # one layer a turn, then the paint
    session = get_session(viewer)
    events = []
    write_turn = session.batches.write_turn

    def turn(*args, **kwargs):
        write_turn(*args, **kwargs)
        events.append("turn")

    monkeypatch.setattr(session.batches, "write_turn", turn)
    _draws(viewer, lambda: events.append("draw"))
    beat = QTimer()
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.timeout.connect(lambda: events.append("tick"))
    query.ids.value = f"{A2} {B2}"
    beat.start(1)
    try:
        run_load(qtbot, query)
        qtbot.waitUntil(lambda: not session.drawing and "draw" in events[events.index("turn"):],
                        timeout=30_000)
    finally:
        beat.stop()
    last_turn = len(events) - 1 - events[::-1].index("turn")
    after = events[last_turn + 1:]
    assert "draw" in after and "tick" in after[:after.index("draw")], events[last_turn:]


def test_the_notice_glyphs_are_made_ahead(qtbot, shown):
    viewer, query = shown
    session = get_session(viewer)
    lod = session.dots
    qtbot.waitUntil(lambda: lod._resolved, timeout=10_000)  # the dock opened: the limit is known
    lod.set_limit(1)  # Preferences' "at most 1": the notice shows for any load
    qtbot.waitUntil(lambda: not lod.glyphs.pending and not query.workers, timeout=30_000)
    font = canvas_font(viewer)
    made = set(font._glyphs)
    assert set(lod.budget.notice_characters() + LAYOUT_CHARACTERS) <= made
    query.ids.value = f"{A2} {B2}"
    run_load(qtbot, query)
    qtbot.waitUntil(lambda: not session.drawing, timeout=30_000)
    overlay = viewer.canvas.overlays.text if hasattr(viewer, "canvas") else viewer.text_overlay
    qtbot.waitUntil(lambda: overlay.visible and "drawn" in overlay.text, timeout=10_000)
    painted = []
    _draws(viewer, lambda: painted.append(1))
    viewer.window._qt_viewer.canvas.native.update()
    qtbot.waitUntil(lambda: bool(painted), timeout=10_000)
    assert set(font._glyphs) == made  # the notice's first paint made no glyph


def test_the_warm_up_makes_one_glyph_at_a_time_and_waits_while_busy(qtbot, shown):
    viewer, _ = shown
    font = canvas_font(viewer)
    qtbot.waitUntil(lambda: not get_session(viewer).dots.glyphs.pending, timeout=30_000)
    rare = "ЖƩẞ"  # characters no other text of the session draws
    fresh = [c for c in rare if c not in font._glyphs]
    busy = [True]
    warmup = GlyphWarmup(lambda: viewer, busy=lambda: busy[0])
    warmup.start(rare)
    assert warmup.pending == fresh
    qtbot.wait(300)
    assert warmup.made == 0 and warmup.pending == fresh  # busy: nothing made
    assert warmup.step() and warmup.made == 1  # one glyph a step
    assert [c for c in rare if c not in font._glyphs] == fresh[1:]
    busy[0] = False
    qtbot.waitUntil(lambda: not warmup.pending, timeout=10_000)
    assert all(c in font._glyphs for c in rare) and warmup.made == len(fresh)
