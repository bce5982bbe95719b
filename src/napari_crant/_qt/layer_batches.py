"""The loaded neurons' layers in batches: each batch of neurons has its own four layers.

napari's work on a layer is per point of the whole layer (symbols coerced, vispy symbol lists,
colours, the upload) each time its data is set or it is sliced again. One layer per kind holding
every loaded neuron made each arrival cost O(all loaded). Here every batch of neurons (at most
:data:`BATCH_NEURONS` neurons and :data:`BATCH_SYNAPSES` synapses) has its own skeletons,
somata, presynapse and postsynapse layers: an arrival fills the last batch while it has room
(re-setting only that batch) and starts new batches for the rest; earlier batches are neither
re-set nor re-sliced (:func:`~napari_crant._qt.layer_writes.write_into` slices only the layers
written while the dims' point and slab stay the same).

Writes are queued and done a few at a time (at most :data:`TURN_POINTS` points, a layer more only
when it is the turn's first, and one new napari layer a turn of the event loop; the first turn at
once): a big load is written on
successive turns, between which input is handled. The canvas is not repainted between turns,
except once after each batch's layers are all written: a new layer's first paint assembles and
compiles its shaders (~15 ms each with software OpenGL), and a layer's new data is uploaded in
its first paint, so a big arrival's batches are painted one after the other instead of all in
the last paint. The canvas is held while a turn
writes and let paint on a timer after it (``canvas_pacing.py``), so a write and the
paint it causes are two stalls with input handled between them, not one.

The layer list stays legible: with one batch the layers
keep their plain names (``CRANT skeletons``); with several, each name ends with the loading
positions of its neurons (``CRANT skeletons 101-200``), the order of the legend.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from napari_crant._qt.canvas_pacing import PAINT_POLL_MS, CanvasPacing
from napari_crant.scene.layer_conventions import LAYER_NAMES, METADATA_KEY

#: most neurons in one batch of layers
BATCH_NEURONS = 100
#: most synapses (pre and post) in one batch of layers
BATCH_SYNAPSES = 40_000
#: points (skeleton edges, somata, synapses) written in one turn of the event loop
TURN_POINTS = 20_000
#: ms between two turns: a 0 ms single shot is a posted call, and Qt ran posted calls back to
#: back before input and due timers (turns chained into stalls of several turns)
TURN_GAP_MS = 1
#: the layer kinds of a batch, in the order they are written and listed
KINDS = ("skeletons", "somata", "pre", "post")


@dataclass
class Batch:
    """One batch of loaded neurons and its layers.

    Attributes
    ----------
    roots
        Its neurons' root IDs, in loading order.
    layers
        ``{kind: napari layer}`` once written.
    synapses
        Its neurons' synapse count (pre and post).
    """

    roots: list[int] = field(default_factory=list)
    layers: dict[str, Any] = field(default_factory=dict)
    synapses: int = 0


class LayerBatches:
    """The batches of one session's layers and the queue of their writes.

    Parameters
    ----------
    session
        The :class:`~napari_crant._qt.session.Session` (its scene, colour mode, viewer).
    on_drawn
        Called when the queue has been written to the end.
    """

    def __init__(self, session: Any, on_drawn: Callable[[], None] | None = None):
        self.session = session
        self.batches: list[Batch] = []
        self._queue: deque[tuple[Batch, str]] = deque()
        self._turn_scheduled = False
        #: the canvas held while turns write, let paint after them, and a batch's paint waited for
        self.pacing = CanvasPacing(session)
        self._enqueued = 0  # enqueue calls so far
        #: (batch, kind, enqueue calls then, layer data) made in a turn and left to the next
        self._made_ahead: tuple | None = None
        self.on_drawn = on_drawn
        #: layers written, per kind (tests count them: earlier batches are not written again)
        self.writes: list[tuple[int, str]] = []

    # -- state ---------------------------------------------------------------------------------
    @property
    def drawing(self) -> bool:
        """Whether writes are still queued, or the canvas is not yet let paint the last one."""
        return bool(self._queue) or self.pacing.release_pending

    def layers(self, kind: str) -> list[Any]:
        """The layers of ``kind`` of every batch (written ones), in batch order."""
        return [b.layers[kind] for b in self.batches if kind in b.layers]

    def layers_of_all(self) -> list[Any]:
        """Every written layer of every batch."""
        return [layer for b in self.batches for layer in b.layers.values()]

    def batch_of(self, root: int) -> Batch | None:
        """The batch holding a neuron (``None`` if none does)."""
        for b in self.batches:
            if int(root) in b.roots:
                return b
        return None

    # -- changes -------------------------------------------------------------------------------
    def add(self, roots: list[int], synapse_counts: list[int]) -> None:
        """Neurons arrived (new or reloaded): assign them to batches and queue those batches' writes.

        A reloaded neuron's batch is written again; neurons no longer in the scene leave their
        batch (written again too); new neurons fill the last batch while it has room, then new
        batches. Writes start at once (the first turn) and go on in later turns.
        """
        loaded = self.session.scene.neurons
        if not self.batches:
            self._adopt(roots)
        touched: list[Batch] = []
        for b in self.batches:
            kept = [r for r in b.roots if r in loaded]
            if len(kept) != len(b.roots):
                b.roots = kept
                b.synapses = int(sum(len(loaded[r].synapses) for r in kept))
                touched.append(b)
        new = []
        for root, count in zip(roots, synapse_counts, strict=True):
            b = self.batch_of(root)
            if b is None:
                new.append((int(root), int(count)))
            elif b not in touched:
                touched.append(b)
        last = self.batches[-1] if self.batches else None
        for root, count in new:
            if last is None or not _has_room(last, count):
                last = Batch()
                self.batches.append(last)
            last.roots.append(root)
            last.synapses += count
            if last not in touched:
                touched.append(last)
        self._name_layers()
        for b in touched:
            self._enqueue(b, KINDS)
        self.write_turn()

    def _adopt(self, arriving: list[int]) -> None:
        """Layers of these kinds made elsewhere (napari adding the sample data's layers) become the
        first batch, holding the neurons loaded before this arrival."""
        viewer = self.session.viewer
        found = {}
        for layer in [] if viewer is None else viewer.layers:
            kind = layer.metadata.get(METADATA_KEY)
            if kind in KINDS and kind not in found:
                found[kind] = layer
        if found:
            loaded = self.session.scene.neurons
            new = {int(r) for r in arriving}
            roots = [r for r in loaded if r not in new]
            self.batches.append(Batch(roots, found, int(sum(len(loaded[r].synapses) for r in roots))))

    def rewrite(self, kinds: tuple[str, ...] = KINDS) -> None:
        """Write every batch's layers of ``kinds`` again (new colours, colour mode)."""
        for b in self.batches:
            self._enqueue(b, kinds)
        self.write_turn()

    def prepare(self) -> None:
        """Make the first batch's layers, empty, one an event-loop turn (when the query dock opens:
        napari's first layer of a kind, its visuals and controls are made ahead of the first load;
        ~0.1 s each)."""
        if not self.batches:
            self.batches.append(Batch())
        self._enqueue(self.batches[0], KINDS)
        self.write_turn()

    def clear(self) -> None:
        """Forget the neurons: remove every batch's layers but the first's, which are emptied
        (kept, so the next load does not make napari's layers, visuals and shaders again)."""
        self._queue.clear()
        self.pacing.paint_asked = None
        viewer = self.session.viewer
        first = self.batches[0] if self.batches else None
        for b in self.batches[1:]:
            for layer in list(b.layers.values()):  # removing one forgets it (``forget_layer``)
                if viewer is not None and layer in viewer.layers:
                    viewer.layers.remove(layer)
        self.batches = []
        if first is not None and viewer is not None:
            first.layers = {k: layer for k, layer in first.layers.items() if layer in viewer.layers}
            first.roots, first.synapses = [], 0
            self.batches = [first]
            self._name_layers()
            self._enqueue(first, KINDS)
            self.write_turn(all_now=True)

    def reset(self) -> None:
        """Forget every batch (their layers were removed; layers added later by napari, e.g. the
        sample data's, are adopted as the first batch by the next arrival)."""
        self._queue.clear()
        self.pacing.paint_asked = None
        self.pacing.release_pending = False
        self.pacing.hold(False)
        self.batches = []

    def forget_layer(self, layer: Any) -> None:
        """A layer was removed from the viewer (by the user or another dock): stop writing it."""
        for b in self.batches:
            for kind, known in list(b.layers.items()):
                if known is layer:
                    del b.layers[kind]

    # -- writing -------------------------------------------------------------------------------
    def _enqueue(self, batch: Batch, kinds: tuple[str, ...]) -> None:
        self._enqueued += 1  # layer data made ahead for a later turn is made again
        for kind in kinds:
            if (batch, kind) not in self._queue:
                self._queue.append((batch, kind))

    def write_turn(self, all_now: bool = False, polled: bool = False) -> None:
        """Write queued layers until :data:`TURN_POINTS` points are written (``all_now``: all);
        the rest is written in the next turns of the event loop (``polled``: called by the turn's
        timer, not by an arrival)."""
        from napari_crant._qt.layer_writes import write_into

        viewer = self.session.viewer
        window = getattr(viewer, "window", None)
        if viewer is None or (window is not None and not hasattr(window, "_qt_window")):
            self._queue.clear()  # the viewer is gone or its window closed (napari deletes it)
            self.pacing.release_pending = False
            return
        if not all_now and self.pacing.paint_asked is not None:
            # still waiting: ask again soon; painted, on the poll's timer: write on a timer of its own,
            # due after those that came due during the paint (the paint and the write are two stalls)
            if self.pacing.waiting_for_paint():
                self._schedule(PAINT_POLL_MS)
                return
            if polled:
                self._schedule(TURN_GAP_MS)
                return
        scene, color_by = self.session.scene, self.session.color_by
        written = 0
        todo = []
        while self._queue and (all_now or written < TURN_POINTS):
            batch, kind = self._queue.popleft()
            if batch not in self.batches:
                continue
            ahead, self._made_ahead = self._made_ahead, None
            if ahead is not None and ahead[0] is batch and ahead[1:3] == (kind, self._enqueued):
                data = ahead[3]
            else:
                data = _layer_data(scene, kind, batch.roots, color_by)
                data[1]["name"] = self._name(batch, kind)
            if todo and not all_now and written + len(data[0]) > TURN_POINTS:
                # the next turn's: kept (unless something is queued meanwhile) for it
                self._queue.appendleft((batch, kind))
                self._made_ahead = (batch, kind, self._enqueued, data)
                break
            todo.append((batch, kind, data))
            written += len(data[0])
            if kind not in batch.layers and not all_now:
                break  # making a napari layer (visual, controls) is a turn's worth of work itself
        if todo:
            self.pacing.hold(True)  # painted after the turn, not in the same stall (see release_later)
            layers = write_into(viewer, [(b.layers.get(k), d) for b, k, d in todo],
                                on_slab=self.session.project_z)
            for (batch, kind, _), layer in zip(todo, layers, strict=True):
                if kind not in batch.layers:  # a new batch's layer: shown or hidden as the first's
                    first = next((b.layers[kind] for b in self.batches if kind in b.layers), None)
                    if first is not None and not first.visible:
                        layer.visible = False
                batch.layers[kind] = layer
                self.writes.append((self.batches.index(batch), kind))
                self.session.apply_visibility_to(layer, kind)
        if self._queue:
            done = {id(b): b for b, _, _ in todo}.values()  # batches this turn wrote, now complete?
            if any(all((b, k) not in self._queue for k in KINDS) for b in done) and self.pacing.ask_paint():
                self.pacing.release_later()  # this batch's first paint, before the next turn
            self._schedule()
        else:
            if todo and self.on_drawn is not None:
                self.on_drawn()  # (the camera refit) before the canvas repaints: one repaint
            self.pacing.release_later()

    def _schedule(self, delay_ms: int = TURN_GAP_MS) -> None:
        if self._turn_scheduled:
            return
        from qtpy.QtCore import QTimer

        self._turn_scheduled = True

        def turn() -> None:
            self._turn_scheduled = False
            self.write_turn(polled=True)

        # a timer (not a posted call): the event loop handles input and due timers between turns
        QTimer.singleShot(delay_ms, turn)

    # -- names ---------------------------------------------------------------------------------
    def _name(self, batch: Batch, kind: str) -> str:
        if len(self.batches) <= 1 or not batch.roots:
            return LAYER_NAMES[kind]
        order = {int(r): i + 1 for i, r in enumerate(self.session.scene.neurons)}
        places = sorted(order.get(int(r), 0) for r in batch.roots)
        span = str(places[0]) if places[0] == places[-1] else f"{places[0]}-{places[-1]}"
        return f"{LAYER_NAMES[kind]} {span}"

    def _name_layers(self) -> None:
        """Rename the written layers after batches were added or changed (a cheap name event)."""
        for b in self.batches:
            for kind, layer in b.layers.items():
                name = self._name(b, kind)
                if layer.name != name:
                    layer.name = name


def _has_room(batch: Batch, synapses: int) -> bool:
    """Whether a neuron with ``synapses`` synapses fits in ``batch`` (an empty batch always)."""
    if not batch.roots:
        return True
    return len(batch.roots) < BATCH_NEURONS and batch.synapses + synapses <= BATCH_SYNAPSES


def _layer_data(scene: Any, kind: str, roots: list[int], color_by: str) -> tuple[Any, dict, str]:
    """One batch's layer data of ``kind`` (an empty batch: empty data)."""
    if kind == "skeletons":
        return scene.skeleton_layer(roots)
    if kind == "somata":
        return scene.soma_layer(roots)
    return scene.synapse_layer(kind, color_by, roots)


def is_batch_layer(layer: Any) -> bool:
    """Whether a layer is one of the loaded neurons' layers (of any batch)."""
    return layer.metadata.get(METADATA_KEY) in KINDS
