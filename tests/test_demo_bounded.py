"""The demo's bounded-memory parts give what the whole arrays give: slices read from disk,
stage 6 made a slice at a time, the synapse stage's contacts read and kept on disk."""

from __future__ import annotations

import numpy as np
import pytest

from napari_crant.demo import TINY_NEURONS, chunks, synapse_stream
from napari_crant.demo.arrays import stage_rng
from napari_crant.demo.contacts import Contacts, find_contacts
from napari_crant.demo.generator import demo_geometry
from napari_crant.demo.spill import OnDisk, Parked
from napari_crant.demo.synapse_stream import SynapseStream, _contact_of

CHUNK_BITS = np.uint64(((1 << 30) - 1) << chunks.COUNTER_BITS)


def _npy(tmp_path, values, name="a.npy"):
    path = tmp_path / name
    np.save(path, values)
    return path


def test_on_disk_reads_the_slices_asked_for(tmp_path):
    values = np.arange(10_000, dtype=np.uint64) * np.uint64(576460752303423489)  # 18 digits
    on_disk = OnDisk(_npy(tmp_path, values))
    assert len(on_disk) == len(values) and on_disk.dtype == values.dtype
    for lo, hi in ((0, 0), (0, 1), (17, 4_000), (9_990, 20_000), (-5, None)):
        assert np.array_equal(on_disk[lo:hi], values[lo:hi])
    assert on_disk[123] == values[123] and on_disk[-1] == values[-1]
    with pytest.raises(IndexError):
        on_disk[10_000]
    with pytest.raises(ValueError, match="step 1"):
        on_disk[::2]


def test_on_disk_reads_raw_files_and_refuses_2d_arrays(tmp_path):
    raw = tmp_path / "x.raw"
    parts = [np.arange(5, dtype=np.int32), np.arange(100, 103, dtype=np.int32)]
    for part in parts:
        with open(raw, "ab") as f:
            part.tofile(f)
    on_disk = OnDisk(raw, np.int32)
    assert len(on_disk) == 8 and on_disk[3:6].tolist() == [3, 4, 100]
    with pytest.raises(ValueError, match="1-D"):
        OnDisk(_npy(tmp_path, np.zeros((3, 2)), "b.npy"))


def test_parked_fields_read_from_disk_then_removed(tmp_path):
    import types

    import pandas as pd

    box = types.SimpleNamespace(a=np.arange(50, dtype=np.int64), t=pd.DataFrame({"x": [1.5]}))
    parked = Parked(box, ["a", "t"], tmp_path / "p")
    assert np.array_equal(parked.on_disk("a")[10:20], np.arange(10, 20))
    with pytest.raises(KeyError):
        parked.on_disk("t")  # a frame, not an array
    parked.remove()
    assert box.a is None and not (tmp_path / "p").exists()


@pytest.mark.parametrize("n_values", [3, 5_000, 20_000])
def test_contact_of_a_row_on_disk_is_the_searchsorted_one(tmp_path, n_values):
    rng = np.random.default_rng(n_values)
    first_row = np.concatenate([[0], np.cumsum(1 + rng.poisson(1.5, n_values))])
    on_disk = OnDisk(_npy(tmp_path, first_row))
    rows = np.concatenate([[0, first_row[-1] - 1], rng.integers(0, first_row[-1], 200)])
    for row in rows:
        expected = int(np.searchsorted(first_row, row, "right")) - 1
        assert _contact_of(on_disk, int(row)) == expected == _contact_of(first_row, int(row))


@pytest.fixture(scope="module")
def geometry():
    return demo_geometry(TINY_NEURONS, seed=3)


def test_chunks_made_a_slice_at_a_time_are_the_same(monkeypatch, geometry):
    piece = np.zeros(len(geometry.nodes.entity), dtype=np.int8)
    whole = chunks.build_chunks(geometry.nodes, piece, stage_rng(3, 7))
    monkeypatch.setattr(chunks, "_SLICE_ROWS", 97)
    sliced = chunks.build_chunks(geometry.nodes, piece, stage_rng(3, 7))
    assert len(whole.l2_id) > 5 * 97  # many slices
    for name in ("l2_of_node", "l2_id", "l2_group", "group_key", "sv_first", "sv_count"):
        assert np.array_equal(getattr(whole, name), getattr(sliced, name)), name
    assert whole.table.equals(sliced.table)
    a, b = chunks.supervoxels_table(whole), chunks.supervoxels_table(sliced)
    assert a.equals(b)


def test_supervoxels_table_lists_every_chunks_supervoxels(geometry):
    piece = np.zeros(len(geometry.nodes.entity), dtype=np.int8)
    ch = chunks.build_chunks(geometry.nodes, piece, stage_rng(3, 7))
    sv = chunks.supervoxels_table(ch, slice_rows=50)
    ids, l2 = sv["sv_id"].to_numpy(), sv["l2_id"].to_numpy()
    assert ids.dtype == np.uint64 and len(ids) == int(ch.sv_count.sum())
    assert len(np.unique(ids)) == len(ids)
    assert ((ids >> np.uint64(56)) == 1).all() and ((l2 >> np.uint64(56)) == 2).all()
    assert ((ids & CHUNK_BITS) == (l2 & CHUNK_BITS)).all()  # in its L2 chunk's grid cell
    # chunk by chunk: sv_count IDs two apart from sv_first
    at = np.repeat(np.arange(len(ch.l2_id)), ch.sv_count.astype(np.int64))
    assert np.array_equal(l2, ch.l2_id[at])
    local = np.arange(len(ids)) - np.repeat(np.cumsum(ch.sv_count.astype(np.int64))
                                            - ch.sv_count, ch.sv_count.astype(np.int64))
    assert np.array_equal(ids, ch.sv_first[at] + 2 * local.astype(np.uint64))
    picked = chunks.node_supervoxels(ch)  # every node's pick is one of its chunk's
    node_l2 = ch.l2_of_node
    assert ((picked - ch.sv_first[node_l2]) // 2 < ch.sv_count[node_l2]).all()


def test_contacts_read_and_kept_on_disk_draw_the_same(monkeypatch, tmp_path, geometry):
    monkeypatch.setattr(synapse_stream, "DRAW_CHUNK", 100)
    monkeypatch.setattr(synapse_stream, "BLOCK", 40)
    nodes, cells = geometry.nodes, geometry.cells
    contacts = find_contacts(nodes, 1.2, stage_rng(3, 4))
    assert len(contacts.pre) > 3 * 100  # many draw chunks
    in_memory = SynapseStream.contact_synapses(nodes, cells, contacts, 300.0,
                                               stage_rng(3, 9), 3)
    box = Contacts(contacts.pre.copy(), contacts.post.copy())
    parked = Parked(box, ["pre", "post"], tmp_path / "contacts")
    on_disk = SynapseStream.contact_synapses(
        nodes, cells, Contacts(parked.on_disk("pre"), parked.on_disk("post")), 300.0,
        stage_rng(3, 9), 3, scratch=tmp_path / "kept")
    for name in ("pre", "post", "first_row"):
        assert isinstance(on_disk[name], OnDisk)
        assert np.array_equal(on_disk[name][0:len(on_disk[name])], in_memory[name]), name


def test_contact_pools_found_a_block_at_a_time_plan_the_same(monkeypatch, geometry):
    from napari_crant.demo import edits

    nodes, cells = geometry.nodes, geometry.cells
    contacts = find_contacts(nodes, 1.2, stage_rng(3, 4))
    whole = edits.plan_edits(nodes, cells, contacts, stage_rng(3, 5))
    monkeypatch.setattr(edits, "_POOL_BLOCK", 37)
    nn, nf = edits._contact_pools(nodes, cells.n_neurons, contacts.pre, contacts.post)
    ea, ed = nodes.entity[contacts.pre], nodes.entity[contacts.post]
    n = cells.n_neurons
    assert np.array_equal(nn, np.flatnonzero((ea < n) & (ed < n))) and len(nn) > 37
    assert np.array_equal(nf, np.flatnonzero((ea < n) != (ed < n)))
    blocks = edits.plan_edits(nodes, cells, contacts, stage_rng(3, 5))
    assert np.array_equal(whole.piece, blocks.piece) and whole.scenarios == blocks.scenarios
