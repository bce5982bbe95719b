"""Layer-list thumbnails drawn after the canvas's paint, once however many changes came first.

napari draws a layer's 32-px thumbnail in every ``refresh``: for the loaded neurons' Vectors
layer that is a Python loop over every skeleton edge (tens of ms per arrival), for a Points layer
one pass over its points, all of it on the main thread before the canvas shows the change.
Here the canvas goes first; the thumbnail follows :data:`THUMBNAIL_DELAY_MS` later.
"""

import contextlib
import weakref
from typing import Any

#: ms after a change at which the changed layers' thumbnails are drawn
THUMBNAIL_DELAY_MS = 250
#: layers whose thumbnail is due
_DUE: "weakref.WeakSet[Any]" = weakref.WeakSet()


def refresh_thumbnail_later(layer: Any) -> None:
    """``layer.refresh()`` without its thumbnail, which :func:`thumbnail_later` draws after the paint."""
    try:
        layer.refresh(thumbnail=False)
    except TypeError:  # a napari whose refresh draws the thumbnail always
        layer.refresh()
        return
    thumbnail_later(layer)


def thumbnail_later(layer: Any, delay_ms: int = THUMBNAIL_DELAY_MS) -> None:
    """Draw ``layer``'s layer-list thumbnail ``delay_ms`` from now (once, however many calls)."""
    from qtpy.QtCore import QTimer

    if layer in _DUE:
        return
    _DUE.add(layer)
    ref = weakref.ref(layer)

    def draw() -> None:
        target = ref()
        if target is None:
            return
        _DUE.discard(target)
        with contextlib.suppress(RuntimeError, AttributeError, ValueError):
            target._update_thumbnail()

    QTimer.singleShot(delay_ms, draw)


def thumbnails_due() -> int:
    """How many layers wait for their thumbnail (tests and benchmarks)."""
    return len(_DUE)
