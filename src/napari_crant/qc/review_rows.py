"""The rows of a synapse review (Qt-free): review sets, verdict records, counts, undo steps.

What :class:`~napari_crant.qc.review.ReviewModel` computes from a worklist's rows without its
state: which rows form each review set (:func:`review_set_rows`), the record a verdict is
written as (:func:`verdict_record`), where a synapse's rows are (:func:`rows_of_synapse`), the
verdict counts (:func:`verdict_counts`) and one undoable change (:class:`VerdictStep`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.qc.verdicts import VERDICTS

#: the review sets: key -> which worklist rows (in worklist order)
REVIEW_SETS = ("worklist", "flagged", "pre", "post", "partner")
#: the verdict columns a worklist gains from the store
VERDICT_COLUMNS = ("verdict", "note", "reviewer", "reviewed_at")


class ReviewError(ValueError):
    """A review action that cannot be done now (no list, no synapse selected, nothing to undo)."""


@dataclass(frozen=True)
class VerdictStep:
    """One undoable change: a synapse's verdict fields before it (``verdict`` None: unreviewed)
    and the record written."""

    synapse_id: int
    before: dict[str, Any]
    record: dict[str, Any]

    @classmethod
    def before_change(cls, row: pd.Series, record: dict[str, Any]) -> VerdictStep:
        """The step of writing ``record`` over the verdict fields ``row`` holds now."""
        before = {c: (row[c] if isinstance(row[c], str) else None) for c in VERDICT_COLUMNS}
        return cls(int(row["synapse_id"]), before, record)


def review_set_rows(worklist: pd.DataFrame, review_set: str, partner_id: int | None) -> pd.DataFrame:
    """The rows of ``worklist`` in ``review_set`` (one of :data:`REVIEW_SETS`), in worklist order,
    renumbered from 0; the ``'partner'`` set of ``partner_id`` (none without one)."""
    wl = worklist
    if not wl.empty:
        if review_set == "flagged":
            wl = wl[wl["n_flags"].to_numpy() > 0]
        elif review_set in ("pre", "post"):
            wl = wl[wl["type"].to_numpy() == review_set]
        elif review_set == "partner":
            wl = wl.iloc[:0] if partner_id is None else wl[
                wl["partner_id"].to_numpy(np.uint64) == np.uint64(partner_id)]
    return wl.reset_index(drop=True)


def rows_of_synapse(rows: pd.DataFrame, synapse_id: int) -> np.ndarray:
    """Positions of ``synapse_id``'s rows in ``rows`` (uint64-exact; none in an empty frame)."""
    if rows.empty:
        return np.zeros(0, np.int64)
    return np.flatnonzero(rows["synapse_id"].to_numpy(np.uint64) == np.uint64(synapse_id))


def verdict_record(dataset_name: str, materialization: Any, row: pd.Series, **fields: Any) -> dict[str, Any]:
    """What the verdict store keeps for the synapse of ``row``: its IDs, position, the dataset and
    materialization reviewed, and ``fields`` (verdict, note, reviewer, reviewed_at)."""
    return {
        "dataset": dataset_name, "synapse_id": int(row["synapse_id"]),
        "pre_pt_supervoxel_id": int(row["pre_pt_supervoxel_id"]),
        "post_pt_supervoxel_id": int(row["post_pt_supervoxel_id"]),
        "pre_pt_root_id": int(row["pre_pt_root_id"]), "post_pt_root_id": int(row["post_pt_root_id"]),
        "materialization": None if materialization is None else str(materialization),
        "x": float(row["x"]), "y": float(row["y"]), "z": float(row["z"]), **fields,
    }


def verdict_counts(items: pd.DataFrame) -> dict[str, int]:
    """How many of ``items`` have each verdict (plus ``'unreviewed'``)."""
    if items.empty:
        return {v: 0 for v in (*VERDICTS, "unreviewed")}
    seen = Counter(v if isinstance(v, str) else None for v in items["verdict"].to_numpy(object))
    out = {k: int(seen.get(k, 0)) for k in VERDICTS}
    out["unreviewed"] = int(seen.get(None, 0))
    return out
