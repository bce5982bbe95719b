"""The query dock's notice for neurons split since their ID was copied, with the other pieces."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import Container, Label, PushButton


class SplitNotice(Container):
    """Says which loaded IDs were split since and offers to load their other pieces.

    Parameters
    ----------
    load_ids
        Called with the list of piece IDs (uint64-safe ints) when the button is pressed.
    """

    def __init__(self, load_ids: Any):
        super().__init__(labels=False, label="")
        self._load_ids = load_ids
        #: the pieces not shown, in the order offered
        self.pieces: list[int] = []
        self.text = Label(value="")
        self.text.native.setWordWrap(True)
        self.text.native.setStyleSheet("color: #e0b050;")
        self.load_button = PushButton(text="Load the other pieces")
        self.load_button.tooltip = "load the pieces of the split neurons that are not shown"
        self.extend([self.text, self.load_button])
        self.load_button.changed.connect(self._on_load)
        self.visible = False

    def show_split(self, split: dict[int, list[int]]) -> None:
        """Show the notice for ``{given ID: [other piece, ...]}`` (hidden when empty)."""
        self.pieces = [p for rest in split.values() for p in rest]
        if not self.pieces:
            self.visible = False
            return
        names = ", ".join(str(g) for g in split)
        n = len(self.pieces)
        self.text.value = (f"Split since the ID was copied: {names}. Only one piece of each is shown; "
                           f"{n} other piece{'s' if n != 1 else ''} can be loaded.")
        self.text.native.setToolTip("\n".join(f"{g}: other pieces {', '.join(map(str, rest))}"
                                              for g, rest in split.items()))
        self.load_button.text = f"Load the {n} other piece{'s' if n != 1 else ''}"
        self.visible = True

    def _on_load(self) -> None:
        import numpy as np

        pieces, self.pieces = self.pieces, []
        self.visible = False
        if pieces:
            self._load_ids(np.array(pieces, np.uint64))
