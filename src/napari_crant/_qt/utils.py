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
