"""The review of one neuron's synapses (Qt-free): worklist, chosen set, filter, position, verdicts.

:class:`ReviewModel` holds what a reviewer is doing and writes every verdict through a
:class:`~napari_crant.qc.verdicts.VerdictStore` before it changes anything else. It emits psygnal
signals; the QC dock only renders them and forwards keys and clicks. Undo and clear go through
the store as well (its history keeps every step), so nothing a reviewer did is lost.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from psygnal import Signal

from napari_crant.qc.review_rows import (
    REVIEW_SETS,
    VERDICT_COLUMNS,
    ReviewError,
    VerdictStep,
    review_set_rows,
    rows_of_synapse,
    verdict_counts,
    verdict_record,
)
from napari_crant.qc.verdicts import VERDICTS, VerdictStore, default_reviewer

__all__ = ["REVIEW_SETS", "VERDICT_COLUMNS", "ReviewError", "ReviewModel"]


class ReviewModel:
    """A reviewer's progress through one neuron's synapse worklist.

    Parameters
    ----------
    store
        Where verdicts are written (``None``: nothing can be given; :meth:`give` raises).
    max_undo
        How many verdict changes :meth:`undo` can take back.

    Signals
    -------
    worklist_changed
        A new worklist was set (or cleared).
    items_changed
        The chosen set changed: :attr:`items` (and :meth:`visible_rows`) differ.
    filter_changed(unreviewed_only)
        The filter changed: :meth:`visible_rows` differ, :attr:`items` do not.
    position_changed(index)
        :attr:`current` changed (or was set again): an index into :attr:`items`, or ``None``.
    verdict_changed(index)
        The verdict of :attr:`items` row ``index`` changed (given, cleared or undone).
    """

    worklist_changed = Signal()
    items_changed = Signal()
    filter_changed = Signal(bool)
    position_changed = Signal(object)
    verdict_changed = Signal(int)

    def __init__(self, store: VerdictStore | None = None, max_undo: int = 200):
        self.store = store
        self.max_undo = int(max_undo)
        #: the neuron's full worklist with the verdict columns
        self.worklist = pd.DataFrame()
        #: the chosen set: worklist rows in review order
        self.items = pd.DataFrame()
        self.dataset_name = ""
        self.root: int | None = None
        #: recorded with each verdict (the worklist's version unless given)
        self.materialization: Any = None
        self.review_set = "worklist"
        self.partner_id: int | None = None
        self._unreviewed_only = False
        #: index into :attr:`items` of the synapse shown, or ``None``
        self.current: int | None = None
        self._visible: np.ndarray | None = None
        self._undo: list[VerdictStep] = []

    # -- the worklist and the chosen set -------------------------------------------------
    def set_worklist(self, worklist: pd.DataFrame, dataset_name: str, root: Any = None,
                     materialization: Any = None) -> None:
        """Review ``worklist`` (from :func:`~napari_crant.qc.worklist.build_worklist`).

        Verdict columns missing from ``worklist`` are read from the store. Resumes at the first
        unreviewed synapse of the chosen set.
        """
        wl = worklist.reset_index(drop=True).copy()
        wl.attrs = dict(worklist.attrs)
        if "verdict" not in wl.columns:
            self._fill_verdicts(wl, dataset_name)
        self.worklist = wl
        self.dataset_name = str(dataset_name)
        given = root if root is not None else wl.attrs.get("root_id")
        self.root = None if given is None else int(given)
        attrs = wl.attrs
        self.materialization = (materialization if materialization is not None else
                                attrs.get("materialization_version") or attrs.get("materialization"))
        self.worklist_changed.emit()
        self.choose(self.review_set, self.partner_id, resume=True)

    def _fill_verdicts(self, wl: pd.DataFrame, dataset_name: str) -> None:
        if self.store is None or wl.empty:
            for c in VERDICT_COLUMNS:
                wl[c] = np.full(len(wl), None, object)
            return
        got = self.store.for_synapses(dataset_name, wl)
        for c in VERDICT_COLUMNS:
            wl[c] = got[c].to_numpy(object)

    def reload_verdicts(self) -> None:
        """Read the verdicts of the worklist again (after an import); keeps the position."""
        if self.worklist.empty:
            return
        keep = self.current
        self._fill_verdicts(self.worklist, self.dataset_name)
        self.choose(self.review_set, self.partner_id)
        if keep is not None and keep < len(self.items):
            self.go_to(keep)

    def clear(self) -> None:
        """Forget the worklist (e.g. no neuron loaded any more)."""
        self.worklist = pd.DataFrame()
        self.items = pd.DataFrame()
        self.root = None
        self.current = None
        self._visible = None
        self.worklist_changed.emit()
        self.items_changed.emit()
        self.position_changed.emit(None)

    def choose(self, review_set: str | None = None, partner_id: Any = None, resume: bool = False) -> None:
        """Choose the rows to review and go to the first (first unreviewed if ``resume``).

        Parameters
        ----------
        review_set
            One of :data:`REVIEW_SETS` (``None``: keep the current one).
        partner_id
            The partner of the ``'partner'`` set.
        resume
            Start at the first unreviewed synapse instead of the first one shown.
        """
        if review_set is not None:
            if review_set not in REVIEW_SETS:
                raise ReviewError(f"review set {review_set!r} is not one of {', '.join(REVIEW_SETS)}")
            self.review_set = review_set
        self.partner_id = None if partner_id is None or partner_id == "" else int(partner_id)
        self.items = review_set_rows(self.worklist, self.review_set, self.partner_id)
        self.current = None
        self._visible = None
        self.items_changed.emit()
        first = self.first_unreviewed() if resume else None
        visible = self.visible_rows()
        self.go_to(first if first is not None else (int(visible[0]) if len(visible) else None))

    @property
    def unreviewed_only(self) -> bool:
        """Whether only unreviewed synapses are shown (and stepped through)."""
        return self._unreviewed_only

    def set_unreviewed_only(self, on: bool) -> None:
        """Show only unreviewed synapses (or all); stays on the synapse shown if it is still shown."""
        if bool(on) == self._unreviewed_only:
            return
        self._unreviewed_only = bool(on)
        self._visible = None
        self.filter_changed.emit(self._unreviewed_only)
        rows = self.visible_rows()
        if self.current is not None and self.current in rows:
            self.go_to(self.current)
        elif len(rows):
            later = rows[rows > self.current] if self.current is not None else rows
            self.go_to(int(later[0]) if len(later) else int(rows[0]))
        else:
            self.go_to(None)

    def visible_rows(self) -> np.ndarray:
        """Indices of :attr:`items` shown, in order (all, or the unreviewed ones)."""
        if self._visible is None:
            if self.items.empty:
                self._visible = np.zeros(0, np.int64)
            elif self._unreviewed_only:
                self._visible = np.flatnonzero(self.items["verdict"].isna().to_numpy()).astype(np.int64)
            else:
                self._visible = np.arange(len(self.items), dtype=np.int64)
        return self._visible

    def first_unreviewed(self) -> int | None:
        """Index of the first unreviewed synapse of :attr:`items` (``None`` if all are reviewed)."""
        todo = np.flatnonzero(self.items["verdict"].isna().to_numpy()) if len(self.items) else []
        return int(todo[0]) if len(todo) else None

    # -- position ------------------------------------------------------------------------
    def go_to(self, index: int | None) -> None:
        """Show synapse ``index`` of :attr:`items` (``None``: none)."""
        if index is not None and not 0 <= int(index) < len(self.items):
            raise ReviewError(f"synapse index {index} is outside the review set (0..{len(self.items) - 1})")
        self.current = None if index is None else int(index)
        self.position_changed.emit(self.current)

    def step(self, delta: int) -> bool:
        """Go to the next (``delta > 0``) or previous shown synapse; whether it moved."""
        rows = self.visible_rows()
        if not len(rows):
            return False
        cur = self.current
        if cur is None:
            target = rows[0] if delta > 0 else rows[-1]
        else:
            side = rows[rows > cur] if delta > 0 else rows[rows < cur][::-1]
            if not len(side):
                return False
            target = side[0]
        self.go_to(int(target))
        return True

    def current_row(self) -> pd.Series | None:
        """The row of the synapse shown (or ``None``)."""
        if self.current is None or self.items.empty:
            return None
        return self.items.iloc[self.current]

    def position_text(self) -> str:
        """``'k of n shown'`` for the synapse shown (``'–'`` when it is not among them)."""
        rows = self.visible_rows()
        hit = np.flatnonzero(rows == self.current) if self.current is not None else []
        k = int(hit[0]) + 1 if len(hit) else "–"
        return f"{k} of {len(rows)} shown"

    # -- verdicts ------------------------------------------------------------------------
    def give(self, verdict: str, note: str = "", reviewer: str | None = None, advance: bool = True) -> None:
        """Record ``verdict`` for the synapse shown (committed before returning), then move on.

        Raises
        ------
        ReviewError
            No synapse is shown, or there is no verdict database.
        VerdictError
            The store refused it (nothing changed).
        """
        if verdict not in VERDICTS:
            raise ReviewError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        row = self._require_row()
        record = self._record(row, verdict=verdict, note=note.strip(),
                              reviewer=(reviewer or "").strip() or default_reviewer(),
                              reviewed_at=pd.Timestamp.now(tz="UTC").isoformat())
        self.store.set_many([record], change="set")
        self._push(row, record)
        idx = self.current
        self._apply(int(row["synapse_id"]), record)
        if advance:
            self._advance_from(idx)
        else:
            self.go_to(idx)

    def clear_verdict(self) -> None:
        """Make the synapse shown unreviewed again (the store's history keeps the verdict).

        Raises
        ------
        ReviewError
            No synapse is shown, it has no verdict, or there is no verdict database.
        """
        row = self._require_row()
        if not isinstance(row["verdict"], str):
            raise ReviewError(f"synapse {int(row['synapse_id'])} has no verdict to clear")
        self.store.clear_verdict(self.dataset_name, row["synapse_id"], row["pre_pt_supervoxel_id"],
                                 row["post_pt_supervoxel_id"])
        empty = self._record(row, verdict=None, note=None, reviewer=None, reviewed_at=None)
        self._push(row, empty)
        idx = self.current
        self._apply(int(row["synapse_id"]), empty)
        self.go_to(idx)

    @property
    def can_undo(self) -> bool:
        """Whether there is a verdict change to take back."""
        return bool(self._undo)

    def undo(self) -> int:
        """Take back the last verdict change (given or cleared) and go to that synapse.

        Returns
        -------
        int
            The synapse ID restored.

        Raises
        ------
        ReviewError
            Nothing to undo, or no verdict database.
        """
        if not self._undo:
            raise ReviewError("nothing to undo")
        if self.store is None:
            raise ReviewError("no verdict database")
        step = self._undo[-1]
        rec, before = step.record, step.before
        if before["verdict"] is None:
            self.store.clear_verdict(rec["dataset"], rec["synapse_id"], rec["pre_pt_supervoxel_id"],
                                     rec["post_pt_supervoxel_id"], change="undo")
        else:
            self.store.set_many([{**rec, **before}], change="undo")
        self._undo.pop()
        if rec["dataset"] == self.dataset_name:
            self._apply(step.synapse_id, before)
            hit = rows_of_synapse(self.items, step.synapse_id)
            if len(hit):
                self.go_to(int(hit[0]))
        return step.synapse_id

    def counts(self) -> dict[str, int]:
        """Verdict counts of :attr:`items` (plus ``'unreviewed'``)."""
        return verdict_counts(self.items)

    def progress_text(self) -> str:
        """``'reviewed k of n (…)'`` for :attr:`items` (empty without a list)."""
        if self.items.empty:
            return ""
        c = self.counts()
        parts = ", ".join(f"{c[v]} {v.replace('_', ' ')}" for v in VERDICTS)
        text = f"reviewed {len(self.items) - c['unreviewed']} of {len(self.items)} ({parts})"
        waiting = self.pending
        if waiting:
            text += (f"; {waiting} change(s) wait for the verdict database (busy in another "
                     "process): kept on disk and written as soon as it is free")
        return text

    @property
    def pending(self) -> int:
        """Verdict changes the store keeps for a busy database (see ``VerdictStore.pending``)."""
        return 0 if self.store is None else self.store.pending

    def retry_pending(self) -> int:
        """Write the changes kept for a busy database; emits ``items_changed`` if any were written."""
        written = self.store.retry_pending() if self.pending else 0
        if written:
            self.items_changed.emit()
        return written

    # -- internals -----------------------------------------------------------------------
    def _require_row(self) -> pd.Series:
        row = self.current_row()
        if row is None:
            raise ReviewError("no synapse selected: build a review list first")
        if self.store is None:
            raise ReviewError("no verdict database")
        return row

    def _record(self, row: pd.Series, **fields: Any) -> dict[str, Any]:
        return verdict_record(self.dataset_name, self.materialization, row, **fields)

    def _push(self, row: pd.Series, record: dict[str, Any]) -> None:
        self._undo.append(VerdictStep.before_change(row, record))
        del self._undo[:-self.max_undo]

    def _apply(self, synapse_id: int, fields: dict[str, Any]) -> None:
        """Write the verdict fields into the worklist and items rows of ``synapse_id``; emit."""
        changed: list[int] = []
        for df, out in ((self.worklist, None), (self.items, changed)):
            for i in rows_of_synapse(df, synapse_id).tolist():
                for c in VERDICT_COLUMNS:
                    df.at[i, c] = fields.get(c)
                if out is not None:
                    out.append(i)
        if self._unreviewed_only:
            self._visible = None
        for i in changed:
            self.verdict_changed.emit(i)

    def _advance_from(self, idx: int | None) -> None:
        rows = self.visible_rows()
        later = rows[rows > idx] if idx is not None else rows
        if len(later):
            self.go_to(int(later[0]))
        elif self._unreviewed_only:
            self.go_to(int(rows[0]) if len(rows) else None)
        else:
            self.go_to(idx)
