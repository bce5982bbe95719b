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


def _roots_at_layout(path, l2):
    """Independent of the writer: the root holding each chunk at the manifest's layout moment."""
    at = _files(path)["layout"]["roots_at_us"]
    t = _arrow(path, "l2_roots.arrow").to_pandas()
    t = t[(t["created_us"] <= at) & (at < t["expired_us"])]
    lookup = dict(zip(t["l2_id"].to_numpy(np.uint64).tolist(), t["root_id"].to_numpy(np.uint64).tolist(),
                      strict=True))
    return np.array([lookup.get(int(x), 0) if x else 0 for x in l2], np.uint64)


def _runs(values):
    """``{value: (start, stop)}`` of a grouped column, checked contiguous."""
    out = {}
    for i, v in enumerate(values.tolist()):
        start, stop = out.get(v, (i, i))
        assert stop == i, f"rows of {v} not contiguous"
        out[v] = (start, i + 1)
    return out


def test_streamed_synapse_files_are_ordered(small_blocks, tmp_path):
    """Format 3 through the streaming path (many batches and sort runs): rows grouped by root
    at the layout moment, the post-side copy, the L2 runs and the root slices all as the
    format says, checked against numpy computations on the files' own columns."""
    path = make_demo(tmp_path / "demo", TINY_NEURONS, seed=5)
    syn = _arrow(path, "synapses.arrow")
    assert syn.column("id").num_chunks == 1
    assert syn.num_rows > 4 * 900  # several sort runs on each side
    col = {k: syn.column(k).to_numpy() for k in syn.column_names}
    ids = col["id"]
    assert ids.dtype == np.uint64 and len(np.unique(ids)) == len(ids)
    for side in ("pre", "post"):
        np.testing.assert_array_equal(col[f"{side}_pt_root_id"],
                                      _roots_at_layout(path, col[f"{side}_pt_l2_id"]), err_msg=side)
    assert col["pre_pt_root_id"].max() > 10**17  # realistic 18-digit IDs, uint64 end to end
    np.testing.assert_array_equal(np.lexsort((ids, col["pre_pt_l2_id"], col["pre_pt_root_id"])),
                                  np.arange(len(ids)))

    post = _arrow(path, "synapses_post.arrow")
    assert post.column_names == ["post_pt_root_id", "pre_pt_root_id", "pre_pt_l2_id", "size", "row"]
    p = {k: post.column(k).to_numpy() for k in post.column_names}
    assert p["row"].dtype == np.int64 and p["size"].dtype == np.int32
    np.testing.assert_array_equal(p["row"], np.lexsort((ids, col["post_pt_l2_id"], col["post_pt_root_id"])))
    for k in ("post_pt_root_id", "pre_pt_root_id", "pre_pt_l2_id", "size"):
        np.testing.assert_array_equal(p[k], col[k][p["row"]], err_msg=k)

    for name, l2 in (("synapses_pre_l2.arrow", col["pre_pt_l2_id"]),
                     ("synapses_post_l2.arrow", col["post_pt_l2_id"][p["row"]])):
        runs = _arrow(path, name).to_pandas()
        expected = _runs(l2)
        assert runs["l2_id"].tolist() == sorted(expected), name
        assert list(zip(runs["start"], runs["stop"], strict=True)) == [expected[k] for k in sorted(expected)]

    slices = _arrow(path, "synapses_roots.arrow").to_pandas()
    pre_runs, post_runs = _runs(col["pre_pt_root_id"]), _runs(p["post_pt_root_id"])
    assert slices["root_id"].tolist() == sorted(set(pre_runs) | set(post_runs))
    assert slices["root_id"].dtype == np.uint64
    for side, side_runs, side_roots in (("pre", pre_runs, col["pre_pt_root_id"]),
                                        ("post", post_runs, p["post_pt_root_id"])):
        for r, start, stop in zip(slices["root_id"], slices[f"{side}_start"], slices[f"{side}_stop"],
                                  strict=True):
            empty = int(np.searchsorted(side_roots, r))
            assert (start, stop) == side_runs.get(int(r), (empty, empty)), (side, r)

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
