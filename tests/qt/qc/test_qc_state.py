"""The QC state other docks read (rejected synapses) and the weight_qc column (no Qt needed)."""

import numpy as np
import pandas as pd

from napari_crant._qt.qc_state import qc_state, with_qc_weights


def test_with_qc_weights():
    partners = pd.DataFrame({
        "neuron_id": np.array([1, 1], np.uint64), "direction": ["downstream", "upstream"],
        "partner_id": np.array([7, 7], np.uint64), "weight": np.array([3, 2], np.int64)})
    syn = pd.DataFrame({
        "root_id": np.array([1, 1, 1], np.uint64), "type": ["pre", "pre", "post"],
        "synapse_id": np.array([10, 11, 12], np.uint64), "partner_id": np.array([7, 7, 7], np.uint64)})
    out = with_qc_weights(partners, syn, {10, 12})
    assert out["weight_qc"].tolist() == [2, 1] and list(out.columns).index("weight_qc") == 4
    assert with_qc_weights(partners, syn, set())["weight_qc"].tolist() == [3, 2]


def test_qc_state_signal():
    class S:
        pass

    s = S()
    st = qc_state(s)
    assert qc_state(s) is st
    seen = []
    st.changed.connect(lambda: seen.append(1))
    st.update(5, "false_positive")
    st.update(5, "wrong_partner")
    st.update(5, "correct")
    assert seen == [1, 1] and st.rejected == set()
