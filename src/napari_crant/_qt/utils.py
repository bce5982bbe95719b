"""Small Qt helpers."""

from typing import Any


def is_alive(widget: Any) -> bool:
    """Whether the C++ side of a Qt widget (or magicgui widget) still exists.

    Worker callbacks and session signals can arrive after a dock was closed; they must not
    touch a deleted widget.
    """
    try:
        native = widget.native if hasattr(type(widget), "native") else widget
        native.objectName()
    except RuntimeError:
        return False
    return True


def fill_neuron_combo(combo: Any, scene: Any, first: tuple[str, Any] | None = None,
                      keep: Any = None) -> None:
    """Refill a QComboBox with the scene's neurons ("label (root)"; data: the root as text).

    Parameters
    ----------
    combo
        The QComboBox; its signals are blocked while it is refilled.
    scene
        A :class:`~napari_crant.scene.layer_data.Scene`.
    first
        An optional leading ``(text, data)`` item (e.g. "all neurons").
    keep
        Data of the item to select if it is still there; else the current selection is kept
        if possible, else the first item.
    """
    current = combo.currentData()
    combo.blockSignals(True)
    try:
        combo.clear()
        if first is not None:
            combo.addItem(*first)
        roots = list(scene.neurons)
        for root, cell_type in zip(roots, scene.cell_types(roots), strict=True):  # one join, not one per root
            combo.addItem(f"{cell_type} ({root})" if cell_type else str(root), str(root))
        idx = combo.findData(current) if current is not None else -1
        if idx < 0 and keep is not None:
            idx = combo.findData(keep)
        combo.setCurrentIndex(max(idx, 0) if combo.count() else -1)
    finally:
        combo.blockSignals(False)


def select_combo_data(combo: Any, data: Any) -> bool:
    """Make the item whose data is ``str(data)`` current (signals blocked); whether it was found."""
    idx = combo.findData(str(data))
    if idx < 0:
        return False
    combo.blockSignals(True)
    try:
        combo.setCurrentIndex(idx)
    finally:
        combo.blockSignals(False)
    return True


def close_error_popups(prefix: str) -> int:
    """Close napari's notification pop-ups whose message starts with ``prefix``; how many.

    Errors of an earlier attempt are stale once a new attempt starts or succeeds.
    """
    try:
        from napari._qt.dialogs.qt_notification import NapariQtNotification
    except ImportError:  # pragma: no cover - napari moved its pop-ups
        return 0
    closed = 0
    for popup in list(NapariQtNotification._instances):
        try:
            if popup.message.text().startswith(prefix):
                popup.close()
                closed += 1
        except RuntimeError:  # its window is gone (the Qt object was deleted)
            continue
    return closed
