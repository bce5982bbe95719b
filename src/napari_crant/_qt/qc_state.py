"""QC state shared with other docks of a viewer (no Qt): which synapses reviewers rejected.

The partner table reads :func:`qc_state` to show a ``weight_qc`` column (synapses not marked
``false_positive`` or ``wrong_partner``) and refreshes on :attr:`QCState.changed`.
"""

import weakref
from typing import Any

import numpy as np
import pandas as pd
from psygnal import Signal

#: verdicts that take a synapse out of a connection's weight
REJECTED = ("false_positive", "wrong_partner")


class QCState:
    """Verdict information of one viewer session.

    Signals
    -------
    changed
        :attr:`rejected` changed (a verdict was given, or verdicts were reloaded).
    """

    changed = Signal()

    def __init__(self) -> None:
        #: synapse IDs (int) of loaded neurons marked false positive or wrong partner
        self.rejected: set[int] = set()

    def set_rejected(self, synapse_ids: Any) -> None:
        """Replace the rejected set and emit :attr:`changed` if it differs."""
        new = {int(s) for s in synapse_ids}
        if new != self.rejected:
            self.rejected = new
            self.changed.emit()

    def update(self, synapse_id: Any, verdict: str | None) -> None:
        """Record one verdict (emits :attr:`changed` when the rejected set changes)."""
        sid = int(synapse_id)
        before = sid in self.rejected
        after = verdict in REJECTED
        if before != after:
            (self.rejected.add if after else self.rejected.discard)(sid)
            self.changed.emit()


_states: "weakref.WeakKeyDictionary[Any, QCState]" = weakref.WeakKeyDictionary()


def qc_state(session: Any) -> QCState:
    """The :class:`QCState` of a :class:`~napari_crant._qt.session.Session` (created on first use)."""
    state = _states.get(session)
    if state is None:
        state = _states[session] = QCState()
    return state


def with_qc_weights(partners: pd.DataFrame, synapses: pd.DataFrame, rejected: Any) -> pd.DataFrame:
    """Partner rows with ``weight_qc``: the weight minus the rejected synapses of that connection.

    Parameters
    ----------
    partners
        Partner table rows (``neuron_id``, ``direction``, ``partner_id``, ``weight``).
    synapses
        The loaded neurons' synapses (``root_id``, ``type``, ``synapse_id``, ``partner_id``),
        e.g. ``Scene.synapses()``.
    rejected
        Synapse IDs marked false positive or wrong partner.

    Returns
    -------
    pandas.DataFrame
        A copy of ``partners`` with ``weight_qc`` (int64) right after ``weight``.
    """
    out = partners.copy()
    if out.empty or "weight" not in out:
        return out
    weight = out["weight"].to_numpy(np.int64)
    rej = np.array(sorted(int(s) for s in rejected), dtype=np.uint64)
    minus = np.zeros(len(out), np.int64)
    if len(rej) and len(synapses):
        syn = synapses[np.isin(synapses["synapse_id"].to_numpy(np.uint64), rej)]
        if len(syn):
            direction = np.where(syn["type"].to_numpy() == "pre", "downstream", "upstream")
            counts = pd.DataFrame({
                "neuron_id": syn["root_id"].to_numpy(np.uint64),
                "direction": direction,
                "partner_id": syn["partner_id"].to_numpy(np.uint64),
            }).value_counts()
            keys = zip(out["neuron_id"].to_numpy(np.uint64).tolist(), out["direction"].tolist(),
                       out["partner_id"].to_numpy(np.uint64).tolist(), strict=True)
            lookup = {(int(n), d, int(p)): int(c) for (n, d, p), c in counts.items()}
            minus = np.array([lookup.get(k, 0) for k in keys], np.int64)
    pos = list(out.columns).index("weight") + 1
    out.insert(pos, "weight_qc", np.maximum(weight - minus, 0))
    return out
