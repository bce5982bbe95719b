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


class RootsAt:
    """L2 chunk -> the root holding it at one moment, built once and applied batch by batch.

    Parameters
    ----------
    l2_roots
        ``l2_id, root_id, created_us, expired_us``, any order.
    at_us
        The moment (µs since the epoch).

    Raises
    ------
    ValueError
        If a chunk belongs to two roots alive at ``at_us``.
    """

    def __init__(self, l2_roots: pd.DataFrame, at_us: int):
        created = l2_roots["created_us"].to_numpy(np.int64)
        expired = l2_roots["expired_us"].to_numpy(np.int64)
        alive = (created <= at_us) & (at_us < expired)
        keys = l2_roots["l2_id"].to_numpy(np.uint64)[alive]
        values = l2_roots["root_id"].to_numpy(np.uint64)[alive]
        order = np.argsort(keys, kind="stable")
        self.l2_id, self.root_id = keys[order], values[order]
        self._check_unique(at_us)

    @classmethod
    def from_sorted(cls, l2_id: np.ndarray, root_id: np.ndarray, at_us: int) -> RootsAt:
        """The lookup from the chunks alive at ``at_us`` already sorted by chunk (``l2_id``,
        uint64) and their roots: the same as from the ``l2_roots`` rows they were taken from.

        Raises
        ------
        ValueError
            If a chunk is listed twice (it belongs to two roots alive at ``at_us``).
        """
        out = cls.__new__(cls)
        out.l2_id, out.root_id = np.asarray(l2_id, np.uint64), np.asarray(root_id, np.uint64)
        out._check_unique(at_us)
        return out

    def _check_unique(self, at_us: int) -> None:
        same = self.l2_id[1:] == self.l2_id[:-1]
        if bool(np.any(same)):
            dup = self.l2_id[1:][same][0]
            raise ValueError(f"L2 chunk {int(dup)} belongs to two roots at the same moment ({at_us} µs)")
        self.at_us = int(at_us)

    def __call__(self, l2: np.ndarray) -> np.ndarray:
        """The root of every chunk in ``l2`` (0 for chunk 0 or a chunk no root holds then)."""
        l2 = np.asarray(l2, np.uint64)
        out = np.zeros(len(l2), np.uint64)
        if not len(self.l2_id):
            return out
        pos = np.minimum(np.searchsorted(self.l2_id, l2), len(self.l2_id) - 1)
        found = (self.l2_id[pos] == l2) & (l2 != 0)
        out[found] = self.root_id[pos[found]]
        return out


def roots_at(l2: np.ndarray, l2_roots: pd.DataFrame, at_us: int) -> np.ndarray:
    """The root holding each L2 chunk at ``at_us`` (0 for chunk 0 or a chunk no root holds).

    ``l2_roots``: ``l2_id, root_id, created_us, expired_us``, any order (see :class:`RootsAt`).
    """
    return RootsAt(l2_roots, at_us)(l2)


class Runs:
    """Runs of equal consecutive values of a column that arrives in batches (a run may span
    batches): each distinct value's first row and the row after its run.

    Examples
    --------
    >>> r = Runs(); r.add(np.array([5, 5, 7], np.uint64)); r.add(np.array([7, 2], np.uint64))
    >>> [a.tolist() for a in r.finish()]
    [[5, 7, 2], [0, 2, 4], [2, 4, 5]]
    """

    def __init__(self) -> None:
        self._values: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []
        self._last: np.uint64 | None = None
        self.rows = 0

    def add(self, values: np.ndarray) -> None:
        """The next rows' values."""
        values = np.asarray(values, np.uint64)
        if not len(values):
            return
        new = np.empty(len(values), bool)
        new[0] = self._last is None or values[0] != self._last
        np.not_equal(values[1:], values[:-1], out=new[1:])
        first = np.flatnonzero(new)
        self._values.append(values[first])
        self._starts.append(first.astype(np.int64) + self.rows)
        self._last = values[-1]
        self.rows += len(values)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``values, start, stop`` of every run, in row order."""
        values = np.concatenate(self._values) if self._values else np.zeros(0, np.uint64)
        start = np.concatenate(self._starts) if self._starts else np.zeros(0, np.int64)
        return values, start, np.append(start[1:], self.rows).astype(np.int64)


def l2_runs(l2: np.ndarray) -> pd.DataFrame:
    """``l2_id, start, stop`` of the runs of equal values in ``l2`` (rows of a grouped table),
    sorted by ``l2_id``.

    Raises
    ------
    ValueError
        If a chunk has two runs (the table is not grouped by chunk).
    """
    runs = Runs()
    runs.add(l2)
    return l2_runs_table(runs)


def l2_runs_table(runs: Runs) -> pd.DataFrame:
    """:func:`l2_runs` from the :class:`Runs` of a column given in batches."""
    keys, start, stop = runs.finish()
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if len(keys) > 1 and bool(np.any(keys[1:] == keys[:-1])):
        raise ValueError("synapse rows of one L2 chunk are not contiguous")
    return pd.DataFrame({"l2_id": keys, "start": start[order], "stop": stop[order]})


def root_slices(pre_root: np.ndarray, post_root: np.ndarray) -> pd.DataFrame:
    """``root_id, pre_start, pre_stop, post_start, post_stop``: each root's slice of the table
    grouped by ``pre_root`` and of the one grouped by ``post_root`` (both ascending), sorted
    by ``root_id`` (an empty slice where the root has no rows on that side)."""
    pre, post = Runs(), Runs()
    pre.add(pre_root)
    post.add(post_root)
    return root_slices_table(pre, post)


def root_slices_table(pre: Runs, post: Runs) -> pd.DataFrame:
    """:func:`root_slices` from the :class:`Runs` of the two root columns given in batches.

    Raises
    ------
    ValueError
        If a side's roots are not ascending.
    """
    sides = {"pre": pre.finish(), "post": post.finish()}
    for side, (keys, _, _) in sides.items():
        if len(keys) > 1 and bool(np.any(keys[1:] <= keys[:-1])):
            raise ValueError(f"the {side}-side synapse rows are not grouped by ascending root")
    roots = np.union1d(sides["pre"][0], sides["post"][0]).astype(np.uint64)
    out = {"root_id": roots}
    for side, (keys, start, stop) in sides.items():
        pos = np.searchsorted(keys, roots)
        at = np.minimum(pos, max(len(keys) - 1, 0))
        found = (keys[at] == roots) if len(keys) else np.zeros(len(roots), bool)
        # absent: the empty slice where the root would be (searchsorted left == right)
        empty_at = np.append(start, np.int64(sides[side][2][-1] if len(keys) else 0))[pos]
        out[f"{side}_start"] = np.where(found, start[at] if len(keys) else 0, empty_at).astype(np.int64)
        out[f"{side}_stop"] = np.where(found, stop[at] if len(keys) else 0, empty_at).astype(np.int64)
    return pd.DataFrame(out)
