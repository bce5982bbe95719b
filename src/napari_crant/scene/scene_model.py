"""The loaded neurons as an evented model: legend entries, shown/hidden, solo, selection (Qt-free).

One :class:`SceneModel` per viewer (held by the session). The legend dock renders its
entries; the canvas applies :meth:`SceneModel.shown_mask` to the layers; the partner table,
the QC dock and the adjacency view follow :attr:`SceneModel.selected`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from psygnal import Signal


@dataclass
class NeuronEntry:
    """One legend row.

    Attributes
    ----------
    root_id
        The neuron's root ID.
    color
        RGBA (0-1) of its skeleton.
    cell_type
        Its annotated cell type (``''`` when unannotated).
    visible
        Whether the user shows it (a solo on another neuron hides it regardless).
    """

    root_id: int
    color: tuple[float, float, float, float]
    cell_type: str = ""
    visible: bool = True


class SceneModel:
    """Legend state of the loaded neurons.

    Signals
    -------
    entries_changed
        Neurons were added, replaced or removed (re-read :attr:`entries`).
    visibility_changed
        A neuron was shown/hidden or soloed (re-read :meth:`shown_mask`).
    selected_changed(root_id)
        A neuron was selected (``None``: selection cleared).
    """

    entries_changed = Signal()
    visibility_changed = Signal()
    selected_changed = Signal(object)

    def __init__(self) -> None:
        self._entries: dict[int, NeuronEntry] = {}
        self.solo: int | None = None
        self.selected: int | None = None

    # -- entries -------------------------------------------------------------------------
    @property
    def entries(self) -> list[NeuronEntry]:
        """The legend rows, in loading order."""
        return list(self._entries.values())

    def entry(self, root_id: int) -> NeuronEntry:
        """The entry of a loaded neuron (``KeyError`` naming it otherwise)."""
        try:
            return self._entries[int(root_id)]
        except KeyError:
            raise KeyError(f"neuron {int(root_id)} is not loaded") from None

    def set_entries(self, entries: Iterable[NeuronEntry]) -> None:
        """Replace the rows (keeping each known neuron's shown/hidden state)."""
        new: dict[int, NeuronEntry] = {}
        for e in entries:
            old = self._entries.get(int(e.root_id))
            if old is not None:
                e.visible = old.visible
            new[int(e.root_id)] = e
        self._entries = new
        if self.solo is not None and self.solo not in new:
            self.solo = None
        if self.selected is not None and self.selected not in new:
            self.selected = None
            self.selected_changed.emit(None)
        self.entries_changed.emit()

    # -- visibility ----------------------------------------------------------------------
    def set_visible(self, root_id: int, visible: bool) -> None:
        """Show or hide one neuron (its skeleton, soma and synapses)."""
        e = self.entry(root_id)
        if e.visible != bool(visible):
            e.visible = bool(visible)
            self.visibility_changed.emit()

    def toggle_solo(self, root_id: int) -> None:
        """Show only this neuron; again on the same neuron: show every visible neuron."""
        root = int(self.entry(root_id).root_id)
        self.solo = None if self.solo == root else root
        self.visibility_changed.emit()

    def show_all(self) -> None:
        """Show every neuron and end the solo."""
        for e in self._entries.values():
            e.visible = True
        self.solo = None
        self.visibility_changed.emit()

    def is_shown(self, root_id: int) -> bool:
        """Whether a neuron is drawn (visible, and the solo one if any)."""
        e = self.entry(root_id)
        return e.root_id == self.solo if self.solo is not None else e.visible

    def shown_roots(self) -> np.ndarray:
        """Roots drawn now (uint64)."""
        return np.array([r for r in self._entries if self.is_shown(r)], dtype=np.uint64)

    def shown_mask(self, roots: np.ndarray) -> np.ndarray:
        """For each row's ``roots`` (uint64; unknown roots are shown), whether it is drawn."""
        roots = np.asarray(roots, dtype=np.uint64)
        hidden = np.array([r for r in self._entries if not self.is_shown(r)], dtype=np.uint64)
        if len(hidden) == 0:
            return np.ones(len(roots), dtype=bool)
        return ~np.isin(roots, hidden)

    # -- selection -----------------------------------------------------------------------
    def select(self, root_id: int | None) -> None:
        """Select a loaded neuron everywhere (``None`` clears the selection)."""
        root = None if root_id is None else int(self.entry(root_id).root_id)
        if root != self.selected:
            self.selected = root
            self.selected_changed.emit(root)
