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
        for root in scene.neurons:
            label = scene.label_of(root)
            combo.addItem(f"{label} ({root})" if label != str(root) else str(root), str(root))
        idx = combo.findData(current) if current is not None else -1
        if idx < 0 and keep is not None:
            idx = combo.findData(keep)
        combo.setCurrentIndex(max(idx, 0) if combo.count() else -1)
    finally:
        combo.blockSignals(False)
