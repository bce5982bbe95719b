"""The review's text about one synapse (HTML for the QC dock's info line; no Qt)."""

import html
from typing import Any


def synapse_info_html(row: Any, position: str, partner_label: str) -> str:
    """What the QC dock says about the synapse shown.

    Parameters
    ----------
    row
        The synapse's worklist row (``synapse_id``, ``partner_id``, ``type``, ``size``,
        ``distance``, ``reason``, ``verdict`` and, once reviewed, ``reviewer``, ``reviewed_at``).
    position
        Where the synapse is in the review (e.g. ``'3 of 120'``).
    partner_label
        The partner's label (cell type or ID; ignored for the unsegmented partner 0).

    Returns
    -------
    str
        Rich text (every value escaped).
    """
    pid = int(row["partner_id"])
    partner = "unsegmented (0)" if pid == 0 else str(partner_label)
    if pid and partner != str(pid):
        partner += f" ({pid})"
    kind = "output (pre)" if row["type"] == "pre" else "input (post)"
    verdict = row["verdict"] if isinstance(row["verdict"], str) else "not reviewed"
    if isinstance(row["verdict"], str) and isinstance(row.get("reviewer"), str):
        verdict += f" by {row['reviewer']} at {str(row['reviewed_at'])[:19]}"
    flags = html.escape(row["reason"]) if row["reason"] else "none"
    partner, verdict = html.escape(partner), html.escape(verdict)
    return (f"<b>synapse {int(row['synapse_id'])}</b> ({html.escape(position)})<br>"
            f"{kind}, partner <b>{partner}</b><br>"
            f"size {int(row['size'])}, {float(row['distance']):,.0f} nm from the skeleton<br>"
            f"flags: <span style='color:#ffb347'>{flags}</span><br>verdict: <b>{verdict}</b>")
