"""The QC dock's text about one synapse (Qt-free)."""

import pandas as pd

from napari_crant.qc.synapse_info import synapse_info_html


def _row(**kw):
    base = {"synapse_id": 9_000_000_000_001, "partner_id": 576_460_752_400_000_005, "type": "pre",
            "size": 120, "distance": 2500.4, "reason": "", "verdict": None}
    base.update(kw)
    return pd.Series(base)


def test_partner_label_ids_and_verdict_with_reviewer():
    row = _row(verdict="correct", reviewer="ann <b>",
               reviewed_at=pd.Timestamp("2026-12-01 10:11:12.5", tz="UTC"))
    text = synapse_info_html(row, "3 of 120", "KC<g>")
    assert "<b>synapse 9000000000001</b> (3 of 120)" in text
    assert "output (pre), partner <b>KC&lt;g&gt; (576460752400000005)</b>" in text
    assert "size 120, 2,500 nm from the skeleton" in text
    assert "verdict: <b>correct by ann &lt;b&gt; at 2026-12-01 10:11:12</b>" in text
    assert "flags: <span style='color:#ffb347'>none</span>" in text


def test_unsegmented_partner_unreviewed_and_flags_escaped():
    row = _row(partner_id=0, type="post", reason="autapse & duplicate <x>")
    text = synapse_info_html(row, "1 of 2", "")
    assert "input (post), partner <b>unsegmented (0)</b>" in text
    assert "autapse &amp; duplicate &lt;x&gt;" in text and "verdict: <b>not reviewed</b>" in text
    # a partner without a label other than its ID is named once
    assert "partner <b>42</b>" in synapse_info_html(_row(partner_id=42), "1 of 2", "42")
