"""The base tables written one at a time (snapshot/base_tables.py): same files, same checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_crant.demo import TINY_NEURONS, build_demo_tables
from napari_crant.snapshot import base_tables
from napari_crant.snapshot import format as fmt
from napari_crant.snapshot.base_tables import TABLES, BaseTablesWriter, write_arrow
from napari_crant.snapshot.tables import SnapshotTableError


@pytest.fixture(scope="module")
def tables():
    return build_demo_tables(TINY_NEURONS, seed=2)


def _shuffled(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    order = np.random.default_rng(seed).permutation(len(df))
    return df.iloc[order].reset_index(drop=True)


def test_sorted_slices_write_the_bytes_of_the_sorted_frame(tmp_path, tables, monkeypatch):
    monkeypatch.setattr(base_tables, "SLICE_ROWS", 97)  # many slices
    w = BaseTablesWriter(tmp_path)
    l2 = _shuffled(tables.l2, 1)
    w.put(l2=l2)
    expected = tmp_path / "expected.arrow"
    write_arrow(l2.sort_values("l2_id", kind="stable").reset_index(drop=True), expected)
    assert (tmp_path / fmt.L2).read_bytes() == expected.read_bytes()
    edges = _shuffled(tables.l2_edges, 2)
    w.put(l2_edges=edges)
    write_arrow(edges.sort_values(["l2_a", "l2_b"], kind="stable").reset_index(drop=True),
                expected)
    assert (tmp_path / fmt.L2_EDGES).read_bytes() == expected.read_bytes()


def test_root_tables_wait_for_all_three_and_give_the_keys(tmp_path, tables):
    w = BaseTablesWriter(tmp_path)
    w.put(l2=tables.l2, supervoxels=tables.supervoxels)
    w.put(roots=tables.roots, versions=tables.versions)
    assert not (tmp_path / fmt.L2_ROOTS).exists()
    with pytest.raises(SnapshotTableError, match="synapse keys need"):
        w.keys()
    w.put(root_l2=tables.root_l2)
    assert (tmp_path / fmt.L2_ROOTS).exists() and (tmp_path / fmt.ROOT_L2).exists()
    keys = w.keys()
    sv = tables.supervoxels["sv_id"].to_numpy(np.uint64)[:50]
    l2 = keys.sv_to_l2(sv, "pre_pt_supervoxel_id")
    assert (l2 == tables.supervoxels["l2_id"].to_numpy(np.uint64)[:50]).all()
    assert (keys.root_of_l2(l2) != 0).all()


def test_tables_naming_l2_chunks_need_l2_first(tmp_path, tables):
    with pytest.raises(SnapshotTableError, match="before table 'l2'"):
        BaseTablesWriter(tmp_path).put(supervoxels=tables.supervoxels)


def test_bad_tables_are_named(tmp_path, tables):
    w = BaseTablesWriter(tmp_path)
    with pytest.raises(SnapshotTableError, match="duplicate l2_id"):
        w.put(l2=pd.concat([tables.l2, tables.l2.iloc[:1]], ignore_index=True))
    w.put(l2=tables.l2.iloc[1:].reset_index(drop=True))  # chunk 0 of the table is missing
    with pytest.raises(SnapshotTableError, match="names L2 chunks missing from 'l2'"):
        w.put(supervoxels=tables.supervoxels)
    with pytest.raises(SnapshotTableError, match="lists a supervoxel twice"):
        w.put(supervoxels=pd.concat([tables.supervoxels] * 2, ignore_index=True))
    bad = tables.root_l2.assign(root_id=tables.root_l2["root_id"].astype("int64"))
    with pytest.raises(SnapshotTableError, match="'root_l2' column 'root_id' has dtype int64"):
        w.put(root_l2=bad)
    with pytest.raises(ValueError, match="not base tables"):
        w.put(synapses=tables.synapses)


def test_every_table_is_a_base_table(tables):
    for name in TABLES:
        assert hasattr(tables, name)
