"""Where the QC layers sit in napari's layer list: in 2D the tissue above the neurons.

napari draws its layers bottom to top. In 2D the EM cutout at a synapse is a small square in the
view; drawn at the bottom, the synapse dots, verdict dots, skeletons and the partner's skeleton of
every neuron covered the very tissue a proofreader judges. Above them, the cutout shows the EM with
only the pre and post segments' outlines and the ring on it, while the neurons stay in view around
it. In 3D the EM is a plane among the neurons and the depth test decides what is seen: drawn first,
the plane hides what lies behind it and on it (the synapse's own dots would otherwise cover the
T-bar), while what lies in front of it stays in front.

:class:`TissueArrangement` decides when that order is imposed (when layers were added, and when the
display changes) and keeps what the user changed: the tissue layers moved or hidden by the user
stay so.
"""

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from napari_crant._qt.session import find_layer
from napari_crant.scene.layer_conventions import METADATA_KEY

#: the tissue's layers, bottom to top: the EM, the segments' outlines
TISSUE_KINDS = ("qc_em", "qc_segments")
#: the synapse's ring: always the top layer
RING_KIND = "qc_current"


def order_tissue_layers(viewer: Any) -> bool:
    """Put the EM and the segments at the top of ``viewer``'s layer list in 2D (under the ring),
    at the bottom in 3D; the ring on top in both.

    Layers added later (another batch of neurons, a mesh) land on top; this puts the tissue back.
    Nothing moves when the order is already right (a step costs no reordering).

    Parameters
    ----------
    viewer
        The napari viewer.

    Returns
    -------
    bool
        Whether any layer moved.
    """
    tissue = [layer for layer in (find_layer(viewer, kind) for kind in TISSUE_KINDS) if layer is not None]
    ring = [layer for layer in (find_layer(viewer, RING_KIND),) if layer is not None]
    layers = viewer.layers
    others = [layer for layer in layers if not any(layer is t for t in tissue + ring)]
    flat = viewer.dims.ndisplay == 2
    wanted = others + tissue + ring if flat else tissue + others + ring
    if all(a is b for a, b in zip(layers, wanted, strict=True)):
        return False
    for layer in (tissue + ring if flat else ring):  # to the top, in this order
        layers.move(layers.index(layer), len(layers))
    if not flat:
        for position, layer in enumerate(tissue):  # to the bottom
            layers.move(layers.index(layer), position)
    return True


class TissueArrangement:
    """When the tissue's layers are put in order, and what the user changed is kept.

    The order of :func:`order_tissue_layers` is imposed when a layer was added since it was last
    imposed (the EM layers themselves, the first time; another batch of neurons or a mesh later),
    at the next drawn synapse, and when the display changes between 2D and 3D. A user's move of a
    tissue layer (the EM, the segments or the ring; in the layer list, or ``viewer.layers.move``)
    is kept for the session: in that display (2D or 3D) the plugin no longer reorders, and
    coming back to it puts the layers back in the user's order. A tissue layer the user hides
    stays hidden from one synapse to the next, until the user shows it again (or turns the EM
    on again in the dock).

    Parameters
    ----------
    viewer
        The napari viewer.
    on_visible
        Called after the user shows or hides a tissue layer.
    """

    def __init__(self, viewer: Any, on_visible: Callable[[], None] | None = None):
        self.viewer = viewer
        self.on_visible = on_visible
        #: ndisplay (2 or 3) -> the layer order after the user's last move of a tissue layer (weak
        #: references: a layer removed since is not kept alive by it)
        self.user_orders: dict[int, list[weakref.ref]] = {}
        #: kinds of the tissue layers the user hid
        self.user_hidden: set[str] = set()
        self._ours = 0
        self._due = True
        self._watched: weakref.WeakSet[Any] = weakref.WeakSet()
        viewer.layers.events.moved.connect(self._on_moved)
        viewer.layers.events.inserted.connect(self._on_inserted)

    def disconnect(self) -> None:
        """Stop following the viewer's layers."""
        self.viewer.layers.events.moved.disconnect(self._on_moved)
        self.viewer.layers.events.inserted.disconnect(self._on_inserted)
        for kind in (*TISSUE_KINDS, RING_KIND):
            layer = find_layer(self.viewer, kind)
            if layer is not None and layer in self._watched:
                layer.events.visible.disconnect(self._on_visible)
        self._watched.clear()

    @contextlib.contextmanager
    def ours(self) -> Iterator[None]:
        """Within this block, layer moves and visibility changes are the plugin's, not the user's."""
        self._ours += 1
        try:
            yield
        finally:
            self._ours -= 1

    def _on_inserted(self, event: Any = None) -> None:
        self._due = True

    def _on_moved(self, event: Any) -> None:
        if self._ours:
            return
        kind = getattr(getattr(event, "value", None), "metadata", {}).get(METADATA_KEY)
        if kind in TISSUE_KINDS or kind == RING_KIND:
            layers = self.viewer.layers
            self.user_orders[int(self.viewer.dims.ndisplay)] = [weakref.ref(layer) for layer in layers]

    def _on_visible(self, event: Any) -> None:
        layer = getattr(event, "source", None)
        kind = getattr(layer, "metadata", {}).get(METADATA_KEY)
        if self._ours or kind is None:
            return
        if layer.visible:
            self.user_hidden.discard(kind)
        else:
            self.user_hidden.add(kind)
        if self.on_visible is not None:
            self.on_visible()

    def watch(self) -> None:
        """Follow the visibility of the tissue layers present (call after adding them)."""
        for kind in (*TISSUE_KINDS, RING_KIND):
            layer = find_layer(self.viewer, kind)
            if layer is not None and layer not in self._watched:
                self._watched.add(layer)
                layer.events.visible.connect(self._on_visible)

    def shows(self, kind: str) -> bool:
        """Whether the plugin may show the tissue layer of ``kind`` (the user did not hide it)."""
        return kind not in self.user_hidden

    def after_step(self) -> bool:
        """At a drawn synapse: impose the order if a layer was added since it was last imposed and
        the user has not arranged the layers in this display. Whether any layer moved."""
        if not self._due:
            return False
        self._due = False
        if int(self.viewer.dims.ndisplay) in self.user_orders:
            return False
        with self.ours():
            return order_tissue_layers(self.viewer)

    def after_ndisplay(self) -> bool:
        """The display changed: the user's order of this display, or else the plugin's. Whether any
        layer moved."""
        self._due = False
        saved = self.user_orders.get(int(self.viewer.dims.ndisplay))
        with self.ours():
            if saved is None:
                return order_tissue_layers(self.viewer)
            return restore_order(self.viewer, [ref() for ref in saved if ref() is not None])


def restore_order(viewer: Any, saved: list[Any]) -> bool:
    """Put the layers of ``saved`` still in the viewer back in that order, below the layers added
    since (which keep their order); whether any layer moved."""
    layers = viewer.layers
    kept = [layer for layer in saved if any(layer is other for other in layers)]
    wanted = kept + [layer for layer in layers if not any(layer is k for k in kept)]
    if all(a is b for a, b in zip(layers, wanted, strict=True)):
        return False
    for position, layer in enumerate(wanted):
        index = layers.index(layer)
        if index != position:
            layers.move(index, position)
    return True
