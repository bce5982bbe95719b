"""The demo dataset generator: determinism, format, ID scheme, history and planted anomalies."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from napari_crant.demo import DEMO_NEURON, TINY_NEURONS, build_demo_tables, make_demo
from napari_crant.snapshot.tables import SCHEMAS

TABLES = [*SCHEMAS, "annotations", "skeleton_nodes"]


@pytest.fixture(scope="module")
def tiny():
    return build_demo_tables(TINY_NEURONS, seed=0)


@pytest.fixture(scope="module")
def small():
    return build_demo_tables(120, seed=3)


def _live_root_of_l2(t) -> pd.Series:
    live = t.roots.loc[t.roots["expired"].isna(), "root_id"]
    rl2 = t.root_l2[t.root_l2["root_id"].isin(live)]
    return pd.Series(rl2["root_id"].to_numpy(), index=rl2["l2_id"].to_numpy())


def _l2_of_sv(t) -> pd.Series:
    return pd.Series(t.supervoxels["l2_id"].to_numpy(), index=t.supervoxels["sv_id"].to_numpy())


def _live_root_of_sv(t, sv: np.ndarray) -> np.ndarray:
    l2 = _l2_of_sv(t).reindex(sv).to_numpy()
    return _live_root_of_l2(t).reindex(l2).to_numpy()


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_tables(tiny):
    again = build_demo_tables(TINY_NEURONS, seed=0)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(tiny, name), getattr(again, name), obj=name)
    assert json.dumps(tiny.info, sort_keys=True) == json.dumps(again.info, sort_keys=True)


def test_other_seed_other_tables(tiny):
    other = build_demo_tables(TINY_NEURONS, seed=1)
    for name in ("synapses", "l2", "roots", "annotations"):
        a, b = getattr(tiny, name), getattr(other, name)
        assert a.shape != b.shape or not a.equals(b), name


# ----------------------------------------------------------------------------- format


def test_validates_and_writes(tiny, tmp_path):
    tiny.validate()
    out = make_demo(tmp_path / "demo", n_neurons=TINY_NEURONS, seed=0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["synapses"] == len(tiny.synapses)
    assert manifest["info"]["planted_anomalies"] == tiny.info["planted_anomalies"]
    with pytest.raises(FileExistsError):
        make_demo(out, n_neurons=TINY_NEURONS, seed=0)
    assert make_demo(out, n_neurons=TINY_NEURONS, seed=0, overwrite=True) == out


def test_info(tiny):
    info = tiny.info
    assert info["voxel_resolution"] == [8, 8, 42]
    assert info["name"] == "demo" and info["source"] == "demo"
    assert info["synapse_table"] == "synapses_v2" and info["pcg_table"] == "demo_x1"
    assert info["seed"] == 0 and info["n_neurons"] == TINY_NEURONS
    json.dumps(info)  # JSON-serialisable


def test_population_and_neuropils(small):
    ann = small.annotations
    n_frag = small.info["n_fragments"]
    assert 0.03 * 120 <= n_frag <= 0.06 * 120
    neurons = ann[ann["cell_class"].notna()]
    assert len(neurons) == 120
    assert set(neurons["side"]) <= {"left", "right", "center"}
    assert {"left", "right"} <= set(neurons["side"])
    assert neurons["cell_class"].nunique() >= 10
    names = set(small.neuropils["name"])
    assert {"AL_L", "AL_R", "MB_CA_L", "MB_ML_R", "LH_L", "FB", "EB", "PB"} <= names
    box = small.neuropils.set_index("name")
    assert (box["x1"] > box["x0"]).all() and (box["z1"] > box["z0"]).all()
    # everything inside an ant-brain sized volume (nm)
    assert small.l2[["x", "y", "z"]].max().max() <= 400_000
    assert small.l2["z"].max() <= 150_000
    # somata: one nucleus per neuron with a soma, each on a supervoxel of the soma's chunk
    nuc = small.nuclei
    assert nuc["nucleus_id"].is_unique and len(nuc) == int((ann["nucleus_id"] > 0).sum())
    soma_l2 = _l2_of_sv(small).reindex(nuc["supervoxel_id"].to_numpy())
    dt = small.l2.set_index("l2_id")["max_dt_nm"].reindex(soma_l2.to_numpy())
    assert dt.min() > 1000  # soma chunks are fat
    assert small.l2["max_dt_nm"].median() < 500


def test_annotation_columns(small):
    ann = small.annotations
    for f in ("status", "alternative_names"):
        vals = ann[f].dropna()
        assert len(vals) and all(isinstance(v, list) for v in vals)
    assert ann["proofread"].dtype == bool
    assert set(ann["known_nt"].dropna()) <= {"acetylcholine", "gaba", "glutamate", "dopamine",
                                             "serotonin", "octopamine"}
    proofread = ann[ann["proofread"]]
    assert proofread["date_proofread"].notna().all()
    assert proofread["user_proofreader"].notna().all()
    assert ann.loc[~ann["proofread"], "date_proofread"].isna().all()
    pd.to_datetime(proofread["date_proofread"], format="%Y-%m-%d")


# ----------------------------------------------------------------------------- IDs


def test_id_ranges(small):
    t = small
    for name, schema in SCHEMAS.items():
        for col, kind in schema.items():
            if kind == "uint64":
                assert getattr(t, name)[col].dtype == np.uint64, (name, col)
    roots = t.roots["root_id"].to_numpy()
    assert (roots > np.uint64(2**59)).all()
    assert {len(str(int(r))) for r in roots} == {18}
    l2 = t.l2["l2_id"].to_numpy()
    assert ((l2 >> np.uint64(56)) == 2).all() and {len(str(int(x))) for x in l2} == {18}
    sv = t.supervoxels["sv_id"].to_numpy()
    assert ((sv >> np.uint64(56)) == 1).all() and {len(str(int(x))) for x in sv} == {17}
    # roots made by edits are newer than every initial root, and grow with time
    initial = t.roots["operation_id"] == 0
    assert t.roots.loc[~initial, "root_id"].min() > t.roots.loc[initial, "root_id"].max()
    made = t.roots[~initial].sort_values("root_id")
    assert made["created"].is_monotonic_increasing
    assert t.synapses["id"].is_unique


def test_every_l2_in_one_live_root_and_connected(small):
    t = small
    live = _live_root_of_l2(t)
    assert live.index.is_unique
    assert set(live.index) == set(t.l2["l2_id"])
    idx = pd.Index(t.l2["l2_id"])
    ea = idx.get_indexer(t.l2_edges["l2_a"])
    eb = idx.get_indexer(t.l2_edges["l2_b"])
    assert (ea >= 0).all() and (eb >= 0).all()
    assert (t.l2_edges["l2_a"] < t.l2_edges["l2_b"]).all()
    for root, g in t.root_l2.groupby("root_id"):
        members = idx.get_indexer(g["l2_id"])
        local = pd.Index(members)
        m = np.isin(ea, members) & np.isin(eb, members)
        a, b = local.get_indexer(ea[m]), local.get_indexer(eb[m])
        graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(members),) * 2)
        n_comp, _ = connected_components(graph, directed=False)
        assert n_comp == 1, f"root {root} has a disconnected L2 graph"


# ----------------------------------------------------------------------------- history


def test_lineage_consistent_with_roots(small):
    t = small
    roots = t.roots.set_index("root_id")
    members = t.root_l2.groupby("root_id")["l2_id"].apply(lambda s: frozenset(s.tolist()))
    lin = t.lineage
    assert set(lin["kind"]) == {"merge", "split"}
    for op, g in lin.groupby("operation_id"):
        assert g["timestamp"].nunique() == 1 and g["kind"].nunique() == 1
        ts, kind = g["timestamp"].iloc[0], g["kind"].iloc[0]
        parents, children = g["parent_root_id"].unique(), g["child_root_id"].unique()
        assert (roots.loc[children, "created"] == ts).all()
        assert (roots.loc[children, "operation_id"] == op).all()
        assert (roots.loc[parents, "expired"] == ts).all()
        assert (roots.loc[parents, "created"] < ts).all()
        union_p = frozenset().union(*(members[p] for p in parents))
        union_c = frozenset().union(*(members[c] for c in children))
        assert union_p == union_c
        if kind == "merge":
            assert len(parents) == 2 and len(children) == 1
        else:
            assert len(parents) == 1 and len(children) == 2
            assert not members[children[0]] & members[children[1]]
    made = roots[roots["operation_id"] > 0].index
    assert set(made) == set(lin["child_root_id"])
    assert set(roots[roots["expired"].notna()].index) == set(lin["parent_root_id"])
    assert (roots.loc[roots["operation_id"] == 0, "created"].nunique()) == 1


def test_edit_volume(small):
    ops = small.lineage.groupby("operation_id").first()
    assert (ops["kind"] == "merge").any() and (ops["kind"] == "split").any()
    # several edits on some neuron: chains of at least two operations
    child_ops = small.lineage.set_index("child_root_id")["operation_id"]
    parents_made_by_edits = small.lineage["parent_root_id"].isin(child_ops.index)
    assert parents_made_by_edits.any()
    span = ops["timestamp"].max() - ops["timestamp"].min()
    assert span > pd.Timedelta(days=300)


def test_versions_and_edits_between(small):
    v = small.versions.sort_values("version")
    assert len(v) >= 4 and int(v["valid"].sum()) >= 3 and not v["valid"].all()
    assert v["timestamp"].is_monotonic_increasing
    valid = v.loc[v["valid"], "timestamp"].tolist()
    ts = small.lineage["timestamp"]
    assert (ts > valid[-1]).any(), "no edit after the newest version"
    for lo, hi in itertools.pairwise(valid):
        assert ((ts > lo) & (ts < hi)).any(), f"no edit between {lo} and {hi}"
    start = small.roots.loc[small.roots["operation_id"] == 0, "created"].iloc[0]
    assert start == pd.Timestamp("2025-06-01", tz="UTC")


def test_annotations_root_as_of_annotation_time(small):
    t = small
    ann = t.annotations
    roots = t.roots.set_index("root_id")
    assert ann["root_id"].isin(roots.index).all()
    # the stable supervoxel lies in the (possibly outdated) root the row names
    l2 = _l2_of_sv(t).reindex(ann["supervoxel_id"].to_numpy()).to_numpy()
    pairs = set(zip(t.root_l2["root_id"].tolist(), t.root_l2["l2_id"].tolist(), strict=True))
    assert all((int(r), int(x)) in pairs for r, x in zip(ann["root_id"], l2, strict=True))
    outdated = roots.loc[ann["root_id"], "expired"].notna()
    assert outdated.any(), "no annotation with a root ID outdated by 'live'"
    assert not outdated.all()
    # at least one outdated by an edit after the newest version (live differs from latest)
    newest = t.versions.loc[t.versions["valid"], "timestamp"].max()
    assert (roots.loc[ann["root_id"], "expired"] > newest).any()


def test_tiny_also_has_outdated_annotation(tiny):
    roots = tiny.roots.set_index("root_id")
    assert roots.loc[tiny.annotations["root_id"], "expired"].notna().any()


# ----------------------------------------------------------------------------- synapses


def test_synapse_geometry(small):
    s = small.synapses
    res = np.array([8, 8, 42])
    pre = s[[f"pre_pt_position_{a}" for a in "xyz"]].to_numpy() * res
    post = s[[f"post_pt_position_{a}" for a in "xyz"]].to_numpy() * res
    ctr = s[[f"ctr_pt_position_{a}" for a in "xyz"]].to_numpy() * res
    gap = np.linalg.norm(pre - post, axis=1)
    assert np.median(gap) < 150 and np.quantile(gap, 0.99) < 250
    assert (np.linalg.norm(ctr - (pre + post) / 2, axis=1) < 60).mean() > 0.99
    assert s["size"].dtype == np.int64 and (s["size"] > 0).all()
    assert s["size"].max() > 5 * s["size"].median()
    unseg = (s["post_pt_supervoxel_id"] == 0).mean()
    assert 0.003 < unseg < 0.03


def test_partner_weights_heavy_tailed(small):
    s = small.synapses
    s = s[s["post_pt_supervoxel_id"] != 0]
    pre = _live_root_of_sv(small, s["pre_pt_supervoxel_id"].to_numpy())
    post = _live_root_of_sv(small, s["post_pt_supervoxel_id"].to_numpy())
    weights = pd.DataFrame({"pre": pre, "post": post}).value_counts()
    assert len(weights) > 200
    assert weights.max() >= 8 * weights.median()
    assert (weights <= 2).any()


@pytest.fixture(scope="module")
def default():
    return build_demo_tables()


def test_default_size_is_realistic(default):
    t = default
    per_neuron = len(t.synapses) / 1000
    assert 250 < per_neuron < 350
    assert 0.03 * 1000 <= t.info["n_fragments"] <= 0.05 * 1000
    edited = t.lineage["operation_id"].nunique()
    assert 30 < edited < 150
    s = t.synapses[t.synapses["post_pt_supervoxel_id"] != 0]
    pre = _live_root_of_sv(t, s["pre_pt_supervoxel_id"].to_numpy())
    post = _live_root_of_sv(t, s["post_pt_supervoxel_id"].to_numpy())
    weights = pd.DataFrame({"pre": pre, "post": post}).value_counts()
    assert weights.median() <= 10 and weights.max() >= 20 * weights.median()
    partners = weights.reset_index().groupby("pre").size()
    assert partners.median() >= 10


def test_planted_anomalies(small):
    t = small
    s = t.synapses.set_index("id")
    planted = t.info["planted_anomalies"]
    assert set(planted) == {"far_from_arbor", "near_duplicate", "autapse", "same_supervoxel",
                            "on_fragment"}
    for kind, ids in planted.items():
        assert len(ids) >= 3, kind
        assert pd.Index(np.array(ids, dtype=np.uint64)).isin(s.index).all(), kind
    res = np.array([8, 8, 42])

    def rows(kind):
        return s.loc[np.array(planted[kind], dtype=np.uint64)]

    same = rows("same_supervoxel")
    assert (same["pre_pt_supervoxel_id"] == same["post_pt_supervoxel_id"]).all()

    aut = rows("autapse")
    pre_root = _live_root_of_sv(t, aut["pre_pt_supervoxel_id"].to_numpy())
    post_root = _live_root_of_sv(t, aut["post_pt_supervoxel_id"].to_numpy())
    assert (pre_root == post_root).all()
    assert (aut["pre_pt_supervoxel_id"] != aut["post_pt_supervoxel_id"]).all()

    ctr_cols = [f"ctr_pt_position_{a}" for a in "xyz"]
    for sid, row in rows("near_duplicate").iterrows():
        twins = s[(s["pre_pt_supervoxel_id"] == row["pre_pt_supervoxel_id"])
                  & (s["post_pt_supervoxel_id"] == row["post_pt_supervoxel_id"])
                  & (s.index != sid)]
        d = np.linalg.norm((twins[ctr_cols].to_numpy() - row[ctr_cols].to_numpy(float)) * res,
                           axis=1)
        assert len(d) and d.min() <= 50, sid

    # far from both arbors: > 6 um from every L2 chunk of the pre and the post neuron
    l2_live = _live_root_of_l2(t)
    l2_xyz = t.l2.set_index("l2_id")[["x", "y", "z"]]
    far = rows("far_from_arbor")
    for side in ("pre", "post"):
        roots = _live_root_of_sv(t, far[f"{side}_pt_supervoxel_id"].to_numpy())
        for root, (_, row) in zip(roots, far.iterrows(), strict=True):
            pts = l2_xyz.loc[l2_live.index[l2_live.to_numpy() == root]].to_numpy()
            p = row[ctr_cols].to_numpy(float) * res
            assert np.linalg.norm(pts - p, axis=1).min() > 6000

    # on fragments: one side belongs to a small root without a nucleus
    frag = rows("on_fragment")
    size = l2_live.value_counts()
    for side in ("pre", "post"):
        frag_roots = _live_root_of_sv(t, frag[f"{side}_pt_supervoxel_id"].to_numpy())
        frag[f"{side}_small"] = size.reindex(frag_roots).fillna(10**9).to_numpy() < 40
    assert (frag["pre_small"] | frag["post_small"]).all()
    # and ordinary synapses are close to both of their neurons' chunks
    normal = s.drop(index=[i for ids in planted.values() for i in ids]).iloc[::97]
    normal = normal[normal["post_pt_supervoxel_id"] != 0]
    for side in ("pre", "post"):
        roots = _live_root_of_sv(t, normal[f"{side}_pt_supervoxel_id"].to_numpy())
        near = 0
        for root, (_, row) in zip(roots, normal.iterrows(), strict=True):
            pts = l2_xyz.loc[l2_live.index[l2_live.to_numpy() == root]].to_numpy()
            p = row[ctr_cols].to_numpy(float) * res
            near += np.linalg.norm(pts - p, axis=1).min() < 4000
        assert near >= 0.99 * len(normal)


def test_demo_neuron(default):
    roots = default.roots.set_index("root_id")
    root = np.uint64(DEMO_NEURON)
    assert root in roots.index
    assert roots.loc[root, "operation_id"] == 0 and pd.isna(roots.loc[root, "expired"])
    ann = default.annotations[default.annotations["root_id"] == root]
    assert len(ann) == 1 and ann["proofread"].iloc[0] and ann["cell_type"].iloc[0] == "uPN"
    s = default.synapses
    pre = _live_root_of_sv(default, s["pre_pt_supervoxel_id"].to_numpy())
    post = _live_root_of_sv(default, s["post_pt_supervoxel_id"].to_numpy())
    counts = pd.Series(np.concatenate([pre, post])).value_counts()
    assert counts[root] >= counts.quantile(0.9)
