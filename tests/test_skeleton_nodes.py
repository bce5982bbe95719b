"""The optional ``skeleton_nodes`` snapshot table: the demo writes it, tables and reader check it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from scipy.spatial import cKDTree

from napari_crant.demo import TINY_NEURONS, build_demo_tables, make_demo
from napari_crant.demo.morphology import AXON, DENDRITE, NEURITE, SOMA
from napari_crant.materialization import resolve_materialization
from napari_crant.snapshot import write_snapshot
from napari_crant.snapshot.tables import SnapshotTableError
from napari_crant.sources.snapshot import SnapshotError, SnapshotSource


@pytest.fixture(scope="module")
def tables():
    return build_demo_tables(TINY_NEURONS, seed=2)


@pytest.fixture(scope="module")
def source(tables, tmp_path_factory):
    out = write_snapshot(tables, tmp_path_factory.mktemp("skel") / "demo")
    return SnapshotSource(out)


def _tree_of_row(parent: np.ndarray) -> np.ndarray:
    tree = np.arange(len(parent))
    for i, p in enumerate(parent):  # parents come first, so one pass suffices
        if p >= 0:
            tree[i] = tree[p]
    return tree


def test_columns_and_dtypes(tables):
    nodes = tables.skeleton_nodes
    assert list(nodes.columns) == ["x", "y", "z", "radius_nm", "parent", "l2_id", "sv_id",
                                   "compartment"]
    assert [str(d) for d in nodes.dtypes] == ["float32"] * 4 + ["int64", "uint64", "uint64",
                                                                 "int8"]
    assert set(np.unique(nodes["compartment"])) == {SOMA, NEURITE, DENDRITE, AXON}
    assert (nodes["radius_nm"] > 0).all()
    vol = np.array(tables.info["volume_nm"], dtype=np.float32)
    xyz = nodes[["x", "y", "z"]].to_numpy()
    assert (xyz > 0).all() and (xyz < vol).all()


def test_one_tree_per_cell_in_growth_order(tables):
    parent = tables.skeleton_nodes["parent"].to_numpy()
    rows = np.arange(len(parent))
    assert ((parent >= -1) & (parent < rows)).all()
    n_cells = tables.info["n_neurons"] + tables.info["n_fragments"]
    assert (parent == -1).sum() == n_cells
    tree = _tree_of_row(parent)
    assert (np.diff(tree) >= 0).all()  # each cell's rows are contiguous
    soma = tables.skeleton_nodes["compartment"].to_numpy() == SOMA
    assert soma.sum() == len(tables.nuclei)
    assert (parent[soma] == -1).all()


def test_chunks_and_supervoxels_agree_with_the_snapshot(tables):
    nodes = tables.skeleton_nodes
    # every L2 chunk holds at least one node; every node's supervoxel is in its chunk
    assert set(nodes["l2_id"]) == set(tables.l2["l2_id"])
    l2_of_sv = dict(zip(tables.supervoxels["sv_id"], tables.supervoxels["l2_id"], strict=True))
    assert all(l2_of_sv[s] == c for s, c in zip(nodes["sv_id"], nodes["l2_id"], strict=True))
    # supervoxels are spread over the chunk's supervoxels, not always the first one
    first_sv = tables.supervoxels.groupby("l2_id")["sv_id"].min()
    assert (nodes["sv_id"].to_numpy() != first_sv.loc[nodes["l2_id"]].to_numpy()).any()


def test_synapses_sit_on_their_neurons_skeleton(source):
    at = resolve_materialization(source, "latest")
    nodes = source.skeleton_nodes()
    ann = source.annotations()
    roots = source.roots_of_supervoxels(ann["supervoxel_id"].to_numpy(np.uint64), at)[:10]
    for root in roots:
        l2 = source.l2_ids(int(root))
        mine = nodes[np.isin(nodes["l2_id"].to_numpy(), l2)]
        assert set(mine["l2_id"]) == set(l2)
        syn = source.synapses(np.array([root], np.uint64), None, at)
        if len(syn) == 0:
            continue
        tree = cKDTree(mine[["x", "y", "z"]].to_numpy(np.float64))
        dist, _ = tree.query(syn[["pre_pt_position_x", "pre_pt_position_y",
                                  "pre_pt_position_z"]].to_numpy(np.float64))
        assert np.median(dist) < 1000.0, int(root)  # nm: ordinary synapses lie ~0.4 um off


def test_reader_maps_the_file(tables, source):
    nodes = source.skeleton_nodes()
    pd.testing.assert_frame_equal(nodes, tables.skeleton_nodes)
    x = nodes["x"].to_numpy()
    assert not x.flags.owndata and not x.flags.writeable  # a view of the mapped file
    assert source.manifest["counts"]["skeleton_nodes"] == len(tables.skeleton_nodes)
    n = source.sql("SELECT count(*) AS n FROM skeleton_nodes WHERE parent = -1")["n"].iloc[0]
    assert n == (tables.skeleton_nodes["parent"] == -1).sum()


def test_optional(tiny_path, tables, tmp_path):
    assert SnapshotSource(tiny_path).skeleton_nodes() is None
    out = write_snapshot(dataclasses.replace(tables, skeleton_nodes=None), tmp_path / "s")
    assert not (out / "skeleton_nodes.arrow").exists()
    src = SnapshotSource(out)
    assert src.skeleton_nodes() is None
    assert "skeleton_nodes" not in src.manifest["counts"]
    assert len(src.sql("SELECT * FROM l2 LIMIT 1")) == 1


def test_make_demo_writes_it(tmp_path):
    out = make_demo(tmp_path / "d", n_neurons=TINY_NEURONS, seed=0)
    assert len(SnapshotSource(out).skeleton_nodes()) > 1000


def test_reader_names_a_missing_column(tables, tmp_path):
    out = write_snapshot(tables, tmp_path / "s")
    t = pa.Table.from_pandas(tables.skeleton_nodes.drop(columns=["sv_id"]), preserve_index=False)
    feather.write_feather(t, out / "skeleton_nodes.arrow", compression="uncompressed")
    # as a tool that records no checksums would leave it (else the size check names the file first)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["files"]["skeleton_nodes.arrow"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="sv_id"):
        SnapshotSource(out).skeleton_nodes()


def _with(tables, **changes):
    nodes = tables.skeleton_nodes.copy()
    for col, (row, value) in changes.items():
        values = nodes[col].to_numpy().copy()
        values[row] = value
        nodes[col] = values
    return dataclasses.replace(tables, skeleton_nodes=nodes)


def test_validation_names_the_problem(tables):
    n = len(tables.skeleton_nodes)
    with pytest.raises(SnapshotTableError, match=f"row 5 has parent {n}"):
        _with(tables, parent=(5, n)).validate()
    with pytest.raises(SnapshotTableError, match=r"row 5 has parent 9: .*earlier row"):
        _with(tables, parent=(5, 9)).validate()
    with pytest.raises(SnapshotTableError, match="row 5 has parent -2"):
        _with(tables, parent=(5, -2)).validate()
    bad_l2 = np.uint64(144115188075855871)  # layer 2, not a chunk of this snapshot
    with pytest.raises(SnapshotTableError, match=f"L2 chunk {bad_l2} missing from 'l2'"):
        _with(tables, l2_id=(3, bad_l2)).validate()
    with pytest.raises(SnapshotTableError, match="supervoxel 72057594037927937 missing"):
        _with(tables, sv_id=(3, np.uint64(72057594037927937))).validate()
    nodes = tables.skeleton_nodes
    other = nodes["sv_id"][nodes["l2_id"] != nodes["l2_id"].iloc[3]].iloc[0]
    with pytest.raises(SnapshotTableError, match=f"row 3: supervoxel {other} belongs to"):
        _with(tables, sv_id=(3, other)).validate()
    wrong_dtype = tables.skeleton_nodes.astype({"x": "float64"})
    with pytest.raises(SnapshotTableError, match="'skeleton_nodes' column 'x' has dtype float64"):
        dataclasses.replace(tables, skeleton_nodes=wrong_dtype).validate()
    with pytest.raises(SnapshotTableError, match="lacks column 'compartment'"):
        dataclasses.replace(tables, skeleton_nodes=nodes.drop(columns=["compartment"])).validate()
