"""A tiny hand-built snapshot whose every answer is worked out by hand in the tests.

Timeline (UTC)::

    2025-01-01  initial roots A0, F0 (fragment), B0, C0, D0
    2025-02-01  version 1 (expired, valid=False)
    2025-03-01  op 1: merge  A0 + F0 -> A2
    2025-04-01  version 2
    2025-05-01  op 2: split  B0 -> B2 (b1, b2) + X (b3)
    2025-06-01  version 3 ('latest')
    2025-07-01  op 3: merge  C0 + D0 -> CD      (after the newest version: 'live' differs)

L2 chunks (one or two supervoxels each)::

    A0: a1 a2 a3     F0: f1     B0: b1 b2 b3     C0: c1     D0: d1

Synapses (pre L2 -> post L2, size)::

    1 a1->b1 100   2 a1->b1 50   3 a2->b2 200   4 a3->b3 80 (pre point 20 um away)
    5 f1->b1 120   6 b1->c1 90   7 b3->c1 70    8 c1->d1 60
    9 a1->a2 40 (autapse)  10 a1->unsegmented 30   11 d1->a3 10   12 b2->a2 150
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_crant.snapshot import SnapshotTables, write_snapshot

BASE = 576_460_752_400_000_000  # > 2**59, 18 digits
A0, F0, B0, C0, D0, A2, B2, X, CD = (np.uint64(BASE + k) for k in range(1, 10))
UNKNOWN = np.uint64(BASE + 999)

L2_BASE = 2 << 56
SV_BASE = 1 << 56
L2 = {name: np.uint64(L2_BASE + i + 1) for i, name in enumerate(
    ["a1", "a2", "a3", "f1", "b1", "b2", "b3", "c1", "d1"])}
SV = {  # supervoxel -> its L2 chunk name
    1: "a1", 2: "a2", 3: "a3", 4: "f1", 5: "b1", 6: "b1", 7: "b2", 8: "b3", 9: "c1", 10: "d1",
}


def sv(k: int) -> np.uint64:
    return np.uint64(SV_BASE + k)


SYN_BASE = 9_000_000_000_000
#: synapse number -> (pre sv, post sv (0 = unsegmented), size)
SYNAPSES = {
    1: (1, 5, 100), 2: (1, 6, 50), 3: (2, 7, 200), 4: (3, 8, 80), 5: (4, 5, 120),
    6: (5, 9, 90), 7: (8, 9, 70), 8: (9, 10, 60), 9: (1, 2, 40), 10: (1, 0, 30),
    11: (10, 3, 10), 12: (7, 2, 150),
}

POINTS_NM = {  # L2 representative points (nm) and radius (max_dt_nm)
    "a1": (10000, 10000, 4200, 2000), "a2": (12000, 10000, 4200, 300),
    "a3": (14000, 10000, 4200, 250), "f1": (16000, 10000, 4200, 200),
    "b1": (12000, 12000, 4200, 1500), "b2": (14000, 12000, 4200, 300),
    "b3": (16000, 12000, 4200, 250), "c1": (20000, 12000, 8400, 1200),
    "d1": (22000, 12000, 8400, 1100),
}
RES = np.array([8.0, 8.0, 42.0])


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


T0, OP1, OP2, OP3 = ts("2025-01-01"), ts("2025-03-01"), ts("2025-05-01"), ts("2025-07-01")
V1, V2, V3 = ts("2025-02-01"), ts("2025-04-01"), ts("2025-06-01")


def synapse_id(k: int) -> np.uint64:
    return np.uint64(SYN_BASE + k)


def _voxel(name: str, dx: int = 0) -> tuple[int, int, int]:
    x, y, z, _ = POINTS_NM[name]
    return (int(x // 8) + dx, int(y // 8), int(z // 42))


def positions() -> dict[int, dict[str, tuple[int, int, int]]]:
    """Voxel positions of each synapse: pre near its L2 point, post near the partner's."""
    out = {}
    for k, (pre_sv, post_sv, _) in SYNAPSES.items():
        pre = _voxel(SV[pre_sv], dx=k)
        post = _voxel(SV[post_sv], dx=-k) if post_sv else (pre[0] + 5, pre[1] + 3, pre[2])
        if k == 4:
            pre = (pre[0], pre[1] + 2500, pre[2])  # 20 um off the arbor in y
        ctr = ((pre[0] + post[0]) // 2, (pre[1] + post[1]) // 2, (pre[2] + post[2]) // 2)
        out[k] = {"pre": pre, "post": post, "ctr": ctr}
    return out


def tables() -> SnapshotTables:
    u64 = np.uint64
    roots = pd.DataFrame({
        "root_id": np.array([A0, F0, B0, C0, D0, A2, B2, X, CD], u64),
        "created": [T0, T0, T0, T0, T0, OP1, OP2, OP2, OP3],
        "expired": [OP1, OP1, OP2, OP3, OP3, pd.NaT, pd.NaT, pd.NaT, pd.NaT],
        "operation_id": np.array([0, 0, 0, 0, 0, 1, 2, 2, 3], np.int64),
    })
    roots["created"] = pd.to_datetime(roots["created"], utc=True).astype("datetime64[us, UTC]")
    roots["expired"] = pd.to_datetime(roots["expired"], utc=True).astype("datetime64[us, UTC]")
    members = {
        A0: ["a1", "a2", "a3"], F0: ["f1"], B0: ["b1", "b2", "b3"], C0: ["c1"], D0: ["d1"],
        A2: ["a1", "a2", "a3", "f1"], B2: ["b1", "b2"], X: ["b3"], CD: ["c1", "d1"],
    }
    root_l2 = pd.DataFrame(
        [(r, L2[n]) for r, names in members.items() for n in names], columns=["root_id", "l2_id"]
    ).astype({"root_id": u64, "l2_id": u64})
    l2 = pd.DataFrame({
        "l2_id": np.array([L2[n] for n in POINTS_NM], u64),
        "x": [float(p[0]) for p in POINTS_NM.values()],
        "y": [float(p[1]) for p in POINTS_NM.values()],
        "z": [float(p[2]) for p in POINTS_NM.values()],
        "max_dt_nm": [float(p[3]) for p in POINTS_NM.values()],
        "size_nm3": [1e9] * len(POINTS_NM),
    })
    supervoxels = pd.DataFrame({
        "sv_id": np.array([sv(k) for k in SV], u64),
        "l2_id": np.array([L2[n] for n in SV.values()], u64),
    })
    edges = pd.DataFrame(
        [(L2[a], L2[b]) for a, b in
         [("a1", "a2"), ("a2", "a3"), ("a3", "f1"), ("b1", "b2"), ("b2", "b3"), ("c1", "d1")]],
        columns=["l2_a", "l2_b"],
    ).astype(u64)
    lineage = pd.DataFrame({
        "operation_id": np.array([1, 1, 2, 2, 3, 3], np.int64),
        "timestamp": [OP1, OP1, OP2, OP2, OP3, OP3],
        "kind": ["merge", "merge", "split", "split", "merge", "merge"],
        "parent_root_id": np.array([A0, F0, B0, B0, C0, D0], u64),
        "child_root_id": np.array([A2, A2, B2, X, CD, CD], u64),
    })
    lineage["timestamp"] = lineage["timestamp"].astype("datetime64[us, UTC]")
    pos = positions()
    syn = pd.DataFrame({
        "id": np.array([synapse_id(k) for k in SYNAPSES], u64),
        "pre_pt_supervoxel_id": np.array([sv(p) for p, _, _ in SYNAPSES.values()], u64),
        "post_pt_supervoxel_id": np.array([sv(q) if q else 0 for _, q, _ in SYNAPSES.values()], u64),
        "size": np.array([s for _, _, s in SYNAPSES.values()], np.int64),
    })
    for p in ("pre", "post", "ctr"):
        for i, a in enumerate("xyz"):
            syn[f"{p}_pt_position_{a}"] = np.array([pos[k][p][i] for k in SYNAPSES], np.int64)
    versions = pd.DataFrame({
        "version": np.array([1, 2, 3], np.int64),
        "timestamp": pd.to_datetime([V1, V2, V3], utc=True).astype("datetime64[us, UTC]"),
        "valid": [False, True, True],
    })
    annotations = pd.DataFrame({
        "root_id": np.array([A0, B0], u64),  # recorded before later edits: outdated
        "supervoxel_id": np.array([sv(2), sv(5)], u64),
        "cell_type": ["PN_DA1", "KC_g"],
        "cell_class": ["projection", "kenyon_cell"],
        "super_class": ["central", "central"],
        "side": ["left", "right"],
        "status": [["BACKBONE_PROOFREAD", "PRELIM_PROOFREAD"], ["PRELIM_PROOFREAD"]],
        "proofread": [True, False],
        "known_nt": ["acetylcholine", None],
    })
    nuclei = pd.DataFrame({
        "nucleus_id": np.array([7001, 7002], u64),
        "supervoxel_id": np.array([sv(1), sv(5)], u64),
        "x": [10000.0, 12000.0], "y": [10000.0, 12000.0], "z": [4200.0, 4200.0],
        "volume_um3": [30.0, 28.0],
    })
    neuropils = pd.DataFrame({
        "name": ["AL_L"], "x0": [0.0], "y0": [0.0], "z0": [0.0],
        "x1": [30000.0], "y1": [30000.0], "z1": [10000.0],
    })
    return SnapshotTables(
        info={"name": "tiny", "voxel_resolution": [8, 8, 42], "synapse_table": "synapses_v2",
              "pcg_table": "tiny_x1", "source": "hand-built"},
        versions=versions, roots=roots, root_l2=root_l2, l2=l2, supervoxels=supervoxels,
        l2_edges=edges, lineage=lineage, synapses=syn, annotations=annotations,
        nuclei=nuclei, neuropils=neuropils,
    )


def build(path) -> str:
    write_snapshot(tables(), path, overwrite=True)
    return str(path)
