"""A long error in any dock's message line never grows the window nor widens a dock (elided, tooltip)."""

import pytest
from qtpy.QtWidgets import QApplication

from napari_crant._qt.elided_label import ELLIPSIS, MAX_LINES, ElidedLabel, ElidedMessage, wrap_lines

#: multiprocessing's error that made the window 1,131 px tall on a 1,000 px screen, and more
BOOTSTRAP = """
        An attempt has been made to start a new process before the
        current process has finished its bootstrapping phase.

        This probably means that you are not using fork to start your
        child processes and you have forgotten to use the proper idiom
        in the main module:

            if __name__ == '__main__':
                freeze_support()
                ...

        The "freeze_support()" line can be omitted if the program
        is not going to be frozen to produce an executable.
"""
LONG = "No EM at synapse 576460752400000001: " + BOOTSTRAP * 3 + "/a-very-long-path" * 60 + " end"


def _settle():
    for _ in range(5):  # posted layout requests and resizes
        QApplication.processEvents()


def _labels(query, partners, adjacency, qc):
    """(dock name, tab to show or None, label) of every message line that can carry an error."""
    edits = qc.edits_panel
    return [("Query neurons", None, query.message), ("Query neurons", None, query.meshes.message),
            ("Partners", None, partners.summary), ("Adjacency", None, adjacency.summary),
            ("Adjacency", None, adjacency.hover), ("Synapse QC", None, qc.message),
            ("Synapse QC", None, qc.em_panel.status), ("Synapse QC", edits, edits.edit_status),
            ("Synapse QC", edits, edits.diff_summary), ("Synapse QC", edits, edits.version_summary)]


def test_a_long_error_never_grows_the_window_or_widens_a_dock(qtbot, make_napari_viewer, tiny_path,
                                                               qc_data_dir):
    from napari_crant._qt.fit_screen import plugin_docks
    from napari_crant._qt.view import open_docks

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    widgets = open_docks(viewer)
    _, qc = viewer.window.add_plugin_dock_widget("napari-crant", "Synapse QC")
    query = widgets["Query neurons"]
    query.dataset.value = tiny_path
    qtbot.waitUntil(lambda: not query.workers, timeout=120_000)  # the warm-up's message is written
    docks = plugin_docks(window)
    screen = window.screen().availableGeometry()
    for dock_name, tab, label in _labels(query, widgets["Partners"], widgets["Adjacency"], qc):
        native = label.native if isinstance(label, ElidedMessage) else label
        assert isinstance(native, ElidedLabel)
        docks[dock_name].raise_()
        if tab is not None:
            qc.tabs.setCurrentWidget(tab)
        _settle()
        size = window.size()
        widths = {name: dock.width() for name, dock in docks.items()}
        if label is query.message:
            query.set_message(LONG, error=True)
        elif label is qc.message:
            qc.set_message(LONG, error=True)
        elif label is qc.em_panel.status:
            qc.em_panel._show_failure(576460752400000001, LONG[37:])  # the panel's own wording
        elif isinstance(label, ElidedMessage):
            label.value = LONG
        else:
            label.setText(LONG)
        _settle()
        where = f"{dock_name}: {native.objectName() or type(native).__name__}"
        assert window.size() == size, where
        assert window.frameGeometry().height() <= screen.height(), where
        assert {name: dock.width() for name, dock in docks.items()} == widths, where
        # the whole text is kept, in the tooltip and for copying; a few lines are shown
        assert native.text() == LONG and native.toolTip() == LONG, where
        shown = native.shown_text().split("\n")
        assert 1 <= len(shown) == native.lines_fitting() <= native.lines <= 2, where
        assert shown[-1].endswith(ELLIPSIS) and native.elided, where
        assert native.lines_height(len(shown)) <= native.height() <= native.lines_height(), where
        native.copy_message()
        assert QApplication.clipboard().text() == LONG
        native.setText("")
    qtbot.waitUntil(lambda: not query.workers and not qc.workers, timeout=30_000)


def test_short_text_is_shown_whole_and_lines_follow_the_width(qtbot):
    label = ElidedLabel("", lines=3)
    qtbot.addWidget(label)
    label.show()  # a hidden widget gets its resize events only when shown
    label.resize(300, 100)
    label.setText("Loaded 2 neurons.")
    assert label.shown_text() == "Loaded 2 neurons." and label.toolTip() == "" and not label.elided
    label.setText("first line\nsecond line")
    assert label.shown_text() == "first line\nsecond line" and not label.elided
    words = " ".join(f"word{i}" for i in range(200))
    label.setText(words)
    narrow = label.shown_text().split("\n")
    assert len(narrow) == 3 and narrow[-1].endswith(ELLIPSIS) and label.toolTip() == words
    metrics = label.fontMetrics()
    assert all(metrics.horizontalAdvance(line) <= label.contentsRect().width() for line in narrow)
    label.resize(900, 100)  # wider: the same lines hold more of the text
    wide = label.shown_text().split("\n")
    assert len(wide) == 3 and len(label.shown_text()) > len("\n".join(narrow))
    hints = label.sizeHint(), label.minimumSizeHint()
    assert hints[1].height() == label.lines_height(1) < hints[0].height() == label.lines_height(3)
    label.setText("")
    assert (label.sizeHint(), label.minimumSizeHint()) == hints  # whatever the text
    label.resize(300, label.lines_height(2))  # squeezed: the lines that fit
    label.setText(words)
    assert len(label.shown_text().split("\n")) == 2 and label.shown_text().endswith(ELLIPSIS)
    label.resize(300, 100)
    label.set_lines(1)
    assert label.sizeHint().height() == label.lines_height(1)
    label.setText(words)
    assert "\n" not in label.shown_text() and label.shown_text().endswith(ELLIPSIS)
    assert ElidedLabel("").lines == MAX_LINES == 1


@pytest.mark.parametrize("text, lines, cut", [
    ("", [""], False),
    ("a b c", ["a b c"], False),
    ("a\n\nb", ["a", "", "b"], False),
    ("1\n2\n3\n4", ["1", "2", "3 " + ELLIPSIS], True),
])
def test_wrap_lines(qtbot, text, lines, cut):
    label = ElidedLabel("")
    qtbot.addWidget(label)
    assert wrap_lines(text, label.fontMetrics(), 500, 3) == (lines, cut)


def test_a_word_wider_than_the_label_is_elided(qtbot):
    label = ElidedLabel("")
    qtbot.addWidget(label)
    lines, cut = wrap_lines("x" * 5000, label.fontMetrics(), 200, 3)
    assert len(lines) == 1 and lines[0].endswith(ELLIPSIS) and cut
    assert label.fontMetrics().horizontalAdvance(lines[0]) <= 200
