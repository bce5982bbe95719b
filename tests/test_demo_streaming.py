"""The demo written in bounded memory: many blocks and sort runs give the same snapshot."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from napari_crant.demo import TINY_NEURONS, build_demo_tables, make_demo, synapse_stream
from napari_crant.snapshot import synapse_files, write_snapshot


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks, draw chunks and sort runs far smaller than the tiny demo's synapses."""
    monkeypatch.setattr(synapse_stream, "BLOCK", 400)
    monkeypatch.setattr(synapse_stream, "DRAW_CHUNK", 700)
    monkeypatch.setattr(synapse_files, "DEFAULT_RUN_ROWS", 900)


def _files(path):
    return json.loads((path / "manifest.json").read_text())


def _arrow(path, name):
    return pa.ipc.open_file(pa.memory_map(str(path / name))).read_all()


def test_streamed_demo_equals_the_in_memory_one(small_blocks, tmp_path):
    streamed = make_demo(tmp_path / "streamed", TINY_NEURONS, seed=4)
    tables = build_demo_tables(TINY_NEURONS, seed=4)
    assert len(tables.synapses) > 5 * synapse_stream.BLOCK  # many blocks, many sort runs
    in_memory = write_snapshot(tables, tmp_path / "in-memory")
    a, b = _files(streamed), _files(in_memory)
    assert a["files"] == b["files"]  # every file byte for byte (sizes and checksums)
    assert a["info"] == b["info"] and a["counts"] == b["counts"]
    assert not [p for p in streamed.iterdir() if p.name.startswith(".")]  # no scratch left
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_streamed_synapse_files_are_ordered(small_blocks, tmp_path):
    path = make_demo(tmp_path / "demo", TINY_NEURONS, seed=5)
    syn = _arrow(path, "synapses.arrow")
    assert syn.column("id").num_chunks == 1
    ids = syn.column("id").to_numpy()
    pre_l2 = syn.column("pre_pt_l2_id").to_numpy()
    post_l2 = syn.column("post_pt_l2_id").to_numpy()
    assert ids.dtype == np.uint64 and len(np.unique(ids)) == len(ids)
    np.testing.assert_array_equal(np.lexsort((ids, pre_l2)), np.arange(len(ids)))
    index = _arrow(path, "synapses_post_index.arrow")
    rows = index.column("row").to_numpy().astype(np.int64)
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(ids)))
    np.testing.assert_array_equal(index.column("post_pt_l2_id").to_numpy(), post_l2[rows])
    np.testing.assert_array_equal(rows, np.lexsort((ids, post_l2)))
    info = _files(path)["info"]
    planted = info["planted_anomalies"]
    assert set(planted) == {"far_from_arbor", "near_duplicate", "autapse", "same_supervoxel",
                            "on_fragment"}
    for kind, found in planted.items():
        assert found == sorted(found) and np.isin(np.array(found, np.uint64), ids).all(), kind
    assert all(planted[k] for k in ("near_duplicate", "same_supervoxel", "autapse"))
    assert f"{len(ids)} synapses" in info["description"]


def test_streamed_demo_is_deterministic(small_blocks, tmp_path):
    a = make_demo(tmp_path / "a", TINY_NEURONS, seed=6)
    b = make_demo(tmp_path / "b", TINY_NEURONS, seed=6)
    assert _files(a)["files"] == _files(b)["files"]


def test_default_blocks_match_the_in_memory_writer(tmp_path):
    streamed = make_demo(tmp_path / "streamed", 120, seed=3)
    in_memory = write_snapshot(build_demo_tables(120, seed=3), tmp_path / "in-memory")
    assert _files(streamed)["files"] == _files(in_memory)["files"]


def test_a_failed_build_leaves_nothing(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("napari_crant.demo.generator.write_synapse_files", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        make_demo(tmp_path / "demo", TINY_NEURONS, seed=0)
    assert list(tmp_path.iterdir()) == []
