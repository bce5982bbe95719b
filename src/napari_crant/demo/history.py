"""Stage 7 of the demo: replaying the edits into roots, lineage and root -> L2 membership.

Every group (``(entity, piece)``, see :class:`~napari_crant.demo.chunks.Chunks`) starts in an
initial root at ``START``; every merge or split expires its parent roots and creates child
roots with new IDs, as the chunkedgraph does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_crant.demo.arrays import dense_ranks
from napari_crant.demo.chunks import LAYER_SHIFT, ROOT_LAYER
from napari_crant.demo.edits import Scenario
from napari_crant.demo.timeline import START, timestamp_us, to_utc


@dataclass
class History:
    """Every root that ever existed (index ``0..R-1``; initial roots first) and the lineage."""

    root_id: np.ndarray  # (R,) uint64
    created: np.ndarray  # (R,) int64 us
    expired: np.ndarray  # (R,) int64 us, -1 = never
    operation_id: np.ndarray  # (R,) int64
    root_of_l2: np.ndarray  # (L,) initial root index of every L2
    extra_root: np.ndarray  # root index of extra root_l2 rows
    extra_l2: np.ndarray  # L2 index of extra root_l2 rows
    lineage: pd.DataFrame
    group_history: dict[int, list[tuple[int, int]]]  # group -> [(time, root index)]
    init_root_of_group: np.ndarray


def replay_history(scenarios: list[Scenario], group_key: np.ndarray, l2_group: np.ndarray,
                   rng: np.random.Generator) -> History:
    """Replay the edits: roots, lineage and root -> L2 membership.

    Parameters
    ----------
    scenarios
        Timed episodes (:func:`~napari_crant.demo.edits.schedule_edits`).
    group_key, l2_group
        :attr:`Chunks.group_key` and :attr:`Chunks.l2_group`.
    rng
        Random generator of this stage.

    Returns
    -------
    History
    """
    n_groups = len(group_key)

    def gidx(g: tuple[int, int]) -> int:
        key = g[0] * 4 + g[1]
        i = int(np.searchsorted(group_key, key))
        if i >= n_groups or group_key[i] != key:
            raise KeyError(g)
        return i

    init = np.arange(n_groups)
    for sc in scenarios:
        for members in sc.initial:
            ids = [gidx(g) for g in members]
            init[ids[1:]] = init[ids[0]]
    init = dense_ranks(init)
    n_init = int(init.max()) + 1 if n_groups else 0

    members_of: dict[int, list[int]] = {}

    def members(r: int) -> list[int]:
        if r not in members_of:
            members_of[r] = np.flatnonzero(init == r).tolist()
        return members_of[r]

    ops = sorted(((t, k, op) for k, sc in enumerate(scenarios)
                  for t, op in zip(sc.times, sc.ops, strict=True)), key=lambda x: (x[0], x[1]))
    cur = init.copy()
    created = [timestamp_us(START)] * n_init
    expired = [-1] * n_init
    op_of = [0] * n_init
    lineage = []
    group_history: dict[int, list[tuple[int, int]]] = {}
    op_id = int(rng.integers(120, 400))
    for t, _, op in ops:
        op_id += int(rng.integers(1, 30))
        if op[0] == "merge":
            g1, g2 = gidx(op[1]), gidx(op[2])
            r1, r2 = int(cur[g1]), int(cur[g2])
            parents = [r1, r2]
            children = [sorted(members(r1) + members(r2))]
        else:
            sep = sorted(gidx(g) for g in op[1])
            r = int(cur[sep[0]])
            rest = [g for g in members(r) if g not in sep]
            parents = [r]
            children = [rest, sep]
        for r in parents:
            expired[r] = t
        for groups in children:
            r = len(created)
            created.append(t)
            expired.append(-1)
            op_of.append(op_id)
            members_of[r] = groups
            cur[groups] = r
            for g in groups:
                group_history.setdefault(g, []).append((t, r))
            for p in parents:
                lineage.append((op_id, t, op[0], p, r))

    n_roots = len(created)
    # root IDs: initial ones in random order with gaps, later ones increasing with time
    counter = np.empty(n_roots, dtype=np.int64)
    perm = rng.permutation(n_init)
    counter[perm] = 700_000_000 + np.cumsum(rng.integers(1, 200, n_init))
    nxt = int(counter[:n_init].max()) if n_init else 700_000_000
    counter[n_init:] = nxt + np.cumsum(rng.integers(1_000, 50_000, n_roots - n_init))
    root_id = (np.uint64(ROOT_LAYER) << np.uint64(LAYER_SHIFT)) | counter.astype(np.uint64)

    # root_l2 rows of the roots made by edits
    by_group = np.argsort(l2_group, kind="stable")
    gstart = np.searchsorted(l2_group[by_group], np.arange(n_groups + 1))
    extra_root, extra_l2 = [], []
    for r in range(n_init, n_roots):
        for g in members_of[r]:
            ls = by_group[gstart[g]:gstart[g + 1]]
            extra_l2.append(ls)
            extra_root.append(np.full(len(ls), r))
    lin = pd.DataFrame(lineage, columns=["operation_id", "t", "kind", "p", "c"])
    lineage_df = pd.DataFrame({
        "operation_id": lin["operation_id"].to_numpy(np.int64),
        "timestamp": to_utc(lin["t"].to_numpy(np.int64)),
        "kind": lin["kind"].astype(object),
        "parent_root_id": root_id[lin["p"].to_numpy(np.int64)],
        "child_root_id": root_id[lin["c"].to_numpy(np.int64)],
    })
    cat = np.concatenate
    return History(
        root_id=root_id, created=np.array(created, np.int64),
        expired=np.array(expired, np.int64), operation_id=np.array(op_of, np.int64),
        root_of_l2=init[l2_group],
        extra_root=cat(extra_root) if extra_root else np.zeros(0, np.int64),
        extra_l2=cat(extra_l2) if extra_l2 else np.zeros(0, np.int64),
        lineage=lineage_df, group_history=group_history, init_root_of_group=init,
    )


def root_at(hist: History, g: int, t: int) -> int:
    """Root index of group ``g`` at time ``t`` (int64 us)."""
    r = int(hist.init_root_of_group[g])
    for tc, rc in hist.group_history.get(g, []):
        if tc <= t:
            r = rc
    return r


def roots_table(hist: History) -> pd.DataFrame:
    """The ``roots`` table: ``root_id, created, expired`` (UTC, ``NaT``: current), ``operation_id``."""
    return pd.DataFrame({
        "root_id": hist.root_id,
        "created": to_utc(hist.created),
        "expired": to_utc(hist.expired, missing=hist.expired < 0),
        "operation_id": hist.operation_id,
    })


def root_l2_table(hist: History, l2_id: np.ndarray) -> pd.DataFrame:
    """The ``root_l2`` table: the L2 chunks (IDs ``l2_id`` by index) of every root."""
    return pd.DataFrame({
        "root_id": hist.root_id[np.concatenate([hist.root_of_l2, hist.extra_root])],
        "l2_id": l2_id[np.concatenate([np.arange(len(l2_id)), hist.extra_l2])],
    })
