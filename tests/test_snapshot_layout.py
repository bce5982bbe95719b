"""The working-set layout's pieces (``snapshot/layout.py``) on hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_crant.snapshot import format as fmt
from napari_crant.snapshot.layout import l2_runs, layout_moment, root_slices, roots_at

R1, R2, R3 = (np.uint64(720575940000000000 + i) for i in (11, 22, 33))
L2A, L2B, L2C = (np.uint64(144115188000000000 + i) for i in (1, 2, 3))


def _versions(*rows):
    return pd.DataFrame({"version": [r[0] for r in rows],
                         "timestamp": pd.to_datetime([r[1] for r in rows], utc=True),
                         "valid": [r[2] for r in rows]})


def _us(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1000)


def test_layout_moment_is_the_newest_valid_version_and_its_edit_epoch():
    created = np.array([_us("2025-01-01"), _us("2025-02-01"), _us("2025-04-01")], np.int64)
    expired = np.array([_us("2025-02-01"), _us("2025-04-01"), fmt.NEVER_US], np.int64)
    versions = _versions((1, "2025-01-15", True), (2, "2025-03-01", True), (3, "2025-05-01", False))
    m = layout_moment(versions, created, expired)
    assert (m.version, m.roots_at_us) == (2, _us("2025-03-01"))
    # roots do not change between the edit of 1 February and the one of 1 April
    assert (m.from_us, m.until_us) == (_us("2025-02-01"), _us("2025-04-01"))
    assert m.to_manifest() == {"roots_at_us": m.roots_at_us, "from_us": m.from_us,
                               "until_us": m.until_us, "version": 2}


def test_layout_moment_without_edits_after_it_lasts_for_ever():
    m = layout_moment(_versions((1, "2025-06-01", True)), np.array([_us("2025-01-01")]),
                      np.array([fmt.NEVER_US]))
    assert (m.from_us, m.until_us) == (_us("2025-01-01"), fmt.NEVER_US)


def test_layout_moment_without_a_valid_version_is_the_last_edit():
    created = np.array([_us("2025-01-01"), _us("2025-02-01")])
    expired = np.array([_us("2025-02-01"), fmt.NEVER_US])
    m = layout_moment(_versions((1, "2025-01-15", False)), created, expired)
    assert m.version is None
    assert m.roots_at_us == m.from_us == _us("2025-02-01")
    assert m.until_us == fmt.NEVER_US


def _l2_roots(rows):
    return pd.DataFrame(rows, columns=["l2_id", "root_id", "created_us", "expired_us"]).astype(
        {"l2_id": np.uint64, "root_id": np.uint64})


def test_roots_at_picks_the_root_alive_then():
    table = _l2_roots([(L2A, R1, 0, 100), (L2A, R2, 100, fmt.NEVER_US), (L2B, R3, 0, 50)])
    l2 = np.array([L2A, L2B, 0, L2C, L2A], np.uint64)
    np.testing.assert_array_equal(roots_at(l2, table, 10), [R1, R3, 0, 0, R1])
    np.testing.assert_array_equal(roots_at(l2, table, 100), [R2, 0, 0, 0, R2])
    assert roots_at(l2, table, 100).dtype == np.uint64


def test_roots_at_refuses_a_chunk_in_two_roots_at_once():
    table = _l2_roots([(L2A, R1, 0, 100), (L2A, R2, 50, fmt.NEVER_US)])
    with pytest.raises(ValueError, match=f"L2 chunk {int(L2A)} belongs to two roots"):
        roots_at(np.array([L2A], np.uint64), table, 60)


def test_l2_runs_and_root_slices():
    l2 = np.array([L2C, L2C, L2A, L2B, L2B, L2B], np.uint64)
    runs = l2_runs(l2)
    np.testing.assert_array_equal(runs["l2_id"], [L2A, L2B, L2C])
    np.testing.assert_array_equal(runs["start"], [2, 3, 0])
    np.testing.assert_array_equal(runs["stop"], [3, 6, 2])
    with pytest.raises(ValueError, match="not contiguous"):
        l2_runs(np.array([L2A, L2B, L2A], np.uint64))
    assert len(l2_runs(np.zeros(0, np.uint64))) == 0

    pre = np.array([0, R1, R1, R3], np.uint64)
    post = np.array([R1, R2, R2, R2], np.uint64)
    s = root_slices(pre, post)
    np.testing.assert_array_equal(s["root_id"], np.array([0, R1, R2, R3], np.uint64))
    np.testing.assert_array_equal(s["pre_start"], [0, 1, 3, 3])
    np.testing.assert_array_equal(s["pre_stop"], [1, 3, 3, 4])
    np.testing.assert_array_equal(s["post_start"], [0, 0, 1, 4])
    np.testing.assert_array_equal(s["post_stop"], [0, 1, 4, 4])
