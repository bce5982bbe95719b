"""The QC review keys: on the canvas (before napari's layer shortcuts), in the dock, on the viewer keymap.

Keys (active once a review list is shown)::

    n / p          next / previous synapse
    1 2 3 4        correct / false positive / wrong partner / unsure (then next)
    c              clear the verdict of the synapse shown (back to unreviewed)
    z, Ctrl+Z      undo the last verdict change
    u              show unreviewed synapses only (toggle)
    l              load the segment clicked in the EM (query dock)

On a Points layer napari binds ``1`` and others itself (``1`` would delete the selected
points): an event filter on the canvas takes these keys first. They are also bound on the
viewer keymap (``viewer.keymap['N'](viewer)``); :meth:`ReviewKeys.uninstall` restores the
earlier bindings.
"""

import contextlib
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QAbstractSpinBox, QLineEdit, QWidget

from napari_crant.qc.verdicts import VERDICTS

_NO_MOD = Qt.KeyboardModifier.NoModifier
_CTRL = Qt.KeyboardModifier.ControlModifier
#: (key, modifiers) -> action
KEY_ACTIONS = {
    (Qt.Key.Key_N, _NO_MOD): "next", (Qt.Key.Key_P, _NO_MOD): "previous",
    (Qt.Key.Key_U, _NO_MOD): "toggle_unreviewed", (Qt.Key.Key_L, _NO_MOD): "load_segment",
    (Qt.Key.Key_1, _NO_MOD): VERDICTS[0], (Qt.Key.Key_2, _NO_MOD): VERDICTS[1],
    (Qt.Key.Key_3, _NO_MOD): VERDICTS[2], (Qt.Key.Key_4, _NO_MOD): VERDICTS[3],
    (Qt.Key.Key_C, _NO_MOD): "clear", (Qt.Key.Key_Z, _NO_MOD): "undo", (Qt.Key.Key_Z, _CTRL): "undo",
}
#: napari key name -> action (the viewer keymap)
VIEWER_KEYS = {"N": "next", "P": "previous", "U": "toggle_unreviewed", "L": "load_segment", "1": VERDICTS[0],
               "2": VERDICTS[1], "3": VERDICTS[2], "4": VERDICTS[3], "C": "clear", "Z": "undo",
               "Control-Z": "undo"}
#: actions that repeat while a key is held
REPEATING = ("next", "previous")


def key_action(key: int, modifiers: Any) -> str | None:
    """The review action of a key press (``None``: not a review key)."""
    mods = modifiers & ~Qt.KeyboardModifier.KeypadModifier
    for (k, m), action in KEY_ACTIONS.items():
        if k == key and mods == m:
            return action
    return None


class _KeyFilter(QObject):
    def __init__(self, keys: "ReviewKeys"):
        super().__init__()
        self._keys = keys

    def eventFilter(self, obj: Any, event: Any) -> bool:
        etype = event.type()
        if etype not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        if not self._keys.armed():
            return False
        action = key_action(event.key(), event.modifiers())
        if action is None:
            return False
        if etype == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        if not event.isAutoRepeat() or action in REPEATING:
            self._keys.do(action)
        return True


class ReviewKeys:
    """Installs the review keys and forwards them to ``do(action)``.

    Parameters
    ----------
    viewer
        The napari viewer (its canvas and keymap); may be ``None``.
    dock
        The dock; its children except text fields get the keys too.
    do
        Runs an action: ``'next'``, ``'previous'``, ``'toggle_unreviewed'``, ``'clear'``,
        ``'undo'`` or a verdict.
    armed
        Whether the canvas and dock keys are taken (a review list is shown); the viewer
        keymap always forwards, so a key without a list explains what to do.
    """

    def __init__(self, viewer: Any, dock: QWidget, do: Callable[[str], None], armed: Callable[[], bool]):
        self.viewer = viewer
        self.do = do
        self.armed = armed
        self._filter = _KeyFilter(self)
        self._canvas = None
        self._previous: dict[str, Any] = {}
        #: whether the keys are bound (until :meth:`uninstall`)
        self.installed = True
        try:
            self._canvas = viewer.window._qt_viewer.canvas.native
            self._canvas.installEventFilter(self._filter)
        except (AttributeError, RuntimeError):  # headless viewer model: no canvas
            self._canvas = None
        if viewer is not None and hasattr(viewer, "bind_key"):
            for key, action in VIEWER_KEYS.items():
                def cb(_viewer: Any, action: str = action) -> None:
                    if self.installed:
                        self.do(action)
                self._previous[key] = viewer.bind_key(key, cb, overwrite=True)
        # the dock: every child except text fields (typing a note must not give verdicts)
        for child in [dock, *dock.findChildren(QWidget)]:
            if not isinstance(child, QLineEdit | QAbstractSpinBox):
                child.installEventFilter(self._filter)

    def uninstall(self) -> None:
        """Remove the canvas filter and restore the viewer's earlier key bindings."""
        if self._canvas is not None:
            with contextlib.suppress(RuntimeError):
                self._canvas.removeEventFilter(self._filter)
            self._canvas = None
        if self.viewer is not None:
            for key, prev in self._previous.items():
                self.viewer.bind_key(key, prev, overwrite=True)
        self._previous = {}
        self.installed = False
        self.armed = lambda: False
