"""The synapse tables' working-set layout: rows grouped by root at the newest version.

A query at the newest version (the common case) reads one contiguous slice per neuron: the
synapse table is grouped by presynaptic root and a post-side copy by postsynaptic root, both
as of the *layout moment* (the newest valid version's timestamp), and both hold the roots of
that moment. Root IDs do not change between two edits, so the stored roots answer every
moment of the *epoch* around the layout moment, from the last edit at or before it until the
next edit after it (``docs/snapshot-format.md``). Other moments resolve roots through the L2
chunks (``*_l2.arrow``: each chunk's rows are one contiguous run in its side's table).

These functions are shared by every writer of the format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_crant.snapshot import format as fmt


@dataclass(frozen=True)
class LayoutMoment:
    """When the stored roots hold: ``roots_at_us`` and the epoch ``[from_us, until_us)``."""

    roots_at_us: int
    from_us: int
    until_us: int
    version: int | None

    def to_manifest(self) -> dict[str, int | None]:
        """The manifest's ``layout`` entry."""
        return {"roots_at_us": self.roots_at_us, "from_us": self.from_us,
                "until_us": self.until_us, "version": self.version}


def layout_moment(versions: pd.DataFrame, created_us: np.ndarray, expired_us: np.ndarray) -> LayoutMoment:
    """The newest valid version's moment and the epoch of edits around it.

    Parameters
    ----------
    versions
        ``version, timestamp, valid`` (as in :class:`~napari_crant.snapshot.SnapshotTables`).
    created_us, expired_us
        Every root's lifetime in µs (``expired_us`` = :data:`format.NEVER_US` if current).

    Returns
    -------
    LayoutMoment
        With no valid version, the moment is the last edit (the current roots).
    """
    changes = np.unique(np.concatenate([np.asarray(created_us, np.int64), np.asarray(expired_us, np.int64)]))
    changes = changes[changes < fmt.NEVER_US]
    valid = versions[versions["valid"].to_numpy(bool)]
    if len(valid):
        newest = valid.iloc[int(np.argmax(valid["version"].to_numpy(np.int64)))]
        ts = pd.Timestamp(newest["timestamp"])
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        at_us, version = int(ts.value // 1000), int(newest["version"])
    else:
        at_us, version = (int(changes[-1]) if len(changes) else 0), None
    before = changes[changes <= at_us]
    after = changes[changes > at_us]
    return LayoutMoment(at_us, int(before[-1]) if len(before) else -fmt.NEVER_US,
                        int(after[0]) if len(after) else fmt.NEVER_US, version)


def roots_at(l2: np.ndarray, l2_roots: pd.DataFrame, at_us: int) -> np.ndarray:
    """The root holding each L2 chunk at ``at_us`` (0 for chunk 0 or a chunk no root holds).

    ``l2_roots``: ``l2_id, root_id, created_us, expired_us``, any order.
    """
    created = l2_roots["created_us"].to_numpy(np.int64)
    expired = l2_roots["expired_us"].to_numpy(np.int64)
    alive = (created <= at_us) & (at_us < expired)
    keys = l2_roots["l2_id"].to_numpy(np.uint64)[alive]
    values = l2_roots["root_id"].to_numpy(np.uint64)[alive]
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    if len(keys) > 1 and bool(np.any(keys[1:] == keys[:-1])):
        dup = keys[1:][keys[1:] == keys[:-1]][0]
        raise ValueError(f"L2 chunk {int(dup)} belongs to two roots at the same moment ({at_us} µs)")
    l2 = np.asarray(l2, np.uint64)
    out = np.zeros(len(l2), np.uint64)
    if not len(keys):
        return out
    pos = np.minimum(np.searchsorted(keys, l2), len(keys) - 1)
    found = (keys[pos] == l2) & (l2 != 0)
    out[found] = values[pos[found]]
    return out


def l2_runs(l2: np.ndarray) -> pd.DataFrame:
    """``l2_id, start, stop`` of the runs of equal values in ``l2`` (rows of a grouped table),
    sorted by ``l2_id``.

    Raises
    ------
    ValueError
        If a chunk has two runs (the table is not grouped by chunk).
    """
    l2 = np.asarray(l2, np.uint64)
    if not len(l2):
        return pd.DataFrame({"l2_id": l2, "start": np.zeros(0, np.int64), "stop": np.zeros(0, np.int64)})
    start = np.flatnonzero(np.concatenate(([True], l2[1:] != l2[:-1])))
    stop = np.append(start[1:], len(l2))
    keys = l2[start]
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if len(keys) > 1 and bool(np.any(keys[1:] == keys[:-1])):
        raise ValueError("synapse rows of one L2 chunk are not contiguous")
    return pd.DataFrame({"l2_id": keys, "start": start[order].astype(np.int64),
                         "stop": stop[order].astype(np.int64)})


def root_slices(pre_root: np.ndarray, post_root: np.ndarray) -> pd.DataFrame:
    """``root_id, pre_start, pre_stop, post_start, post_stop``: each root's slice of the table
    grouped by ``pre_root`` and of the one grouped by ``post_root`` (both ascending), sorted
    by ``root_id`` (an empty slice where the root has no rows on that side)."""
    pre_root, post_root = np.asarray(pre_root, np.uint64), np.asarray(post_root, np.uint64)
    roots = np.union1d(_distinct_sorted(pre_root), _distinct_sorted(post_root)).astype(np.uint64)
    return pd.DataFrame({
        "root_id": roots,
        "pre_start": np.searchsorted(pre_root, roots, "left").astype(np.int64),
        "pre_stop": np.searchsorted(pre_root, roots, "right").astype(np.int64),
        "post_start": np.searchsorted(post_root, roots, "left").astype(np.int64),
        "post_stop": np.searchsorted(post_root, roots, "right").astype(np.int64),
    })


def _distinct_sorted(a: np.ndarray) -> np.ndarray:
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if len(a) else a
