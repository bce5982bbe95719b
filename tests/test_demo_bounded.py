"""The demo's bounded-memory parts give what the whole arrays give: slices read from disk,
stage 6 made a slice at a time, the synapse stage's contacts read and kept on disk; stages 3, 4
and 6 made a batch (of cables, nodes, cells) at a time, and holding a batch, not every node."""

from __future__ import annotations

import itertools
import sys

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


# --- stages 3, 4 and 6 a batch at a time (session 7) ---------------------------------------


def _traced_peak(fn):
    """``fn()``'s result and the most memory traced (numpy arrays included) while it ran,
    above what was held when it started."""
    import tracemalloc

    tracemalloc.start()
    try:
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = fn()
        return out, tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def pieces(geometry):
    # three pieces at random: many groups and L2 chunks a cell, batch edges inside groups' cells
    n = len(geometry.nodes.entity)
    return np.random.default_rng(11).integers(0, 3, n).astype(np.int8)


def _same_chunks(a, b, table_b=None):
    for name in ("l2_of_node", "l2_id", "l2_group", "group_key", "sv_first", "sv_count"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.table.equals(table_b if table_b is not None else b.table)
    assert chunks.supervoxels_table(a).equals(chunks.supervoxels_table(b))


def test_chunks_made_a_batch_of_cells_at_a_time_are_the_same(monkeypatch, tmp_path, geometry,
                                                             pieces):
    from napari_crant.demo.chunk_groups import cell_batches
    from napari_crant.demo.spill import FrameOnDisk

    nodes = geometry.nodes
    monkeypatch.setattr(chunks, "_BATCH_NODES", 10**9)
    whole = chunks.build_chunks(nodes, pieces, stage_rng(3, 7))
    assert len(list(cell_batches(nodes.start, 10**9))) == 1
    for batch, rows in ((97, 97), (1_000, 53), (1, 10**9)):  # 1: a cell per batch
        monkeypatch.setattr(chunks, "_BATCH_NODES", batch)
        monkeypatch.setattr(chunks, "_SLICE_ROWS", rows)
        monkeypatch.setattr(chunks, "_DRAW_ROWS", rows)
        assert len(list(cell_batches(nodes.start, batch))) > 5
        batched = chunks.build_chunks(nodes, pieces, stage_rng(3, 7))
        _same_chunks(whole, batched)
        on_disk = chunks.build_chunks(nodes, pieces, stage_rng(3, 7),
                                      table_out=tmp_path / f"l2-{batch}")
        assert isinstance(on_disk.table, FrameOnDisk)
        table = on_disk.table.read()
        assert not (tmp_path / f"l2-{batch}").exists()
        assert not (tmp_path / f"l2-{batch}.per-chunk").exists()  # read back, removed
        assert list(table.columns) == list(whole.table.columns)
        assert [table[c].dtype for c in table] == [whole.table[c].dtype for c in whole.table]
        _same_chunks(whole, on_disk, table)


def test_cell_batches_cover_every_cell_once():
    from napari_crant.demo.chunk_groups import cell_batches

    start = np.array([0, 5, 5, 9, 40, 41, 100])  # an empty cell, a large one
    for size in (1, 4, 10, 35, 1_000):
        batches = list(cell_batches(start, size))
        assert batches[0][0] == 0 and batches[-1][1] == 100
        assert all(b[1] == c[0] for b, c in itertools.pairwise(batches))
        assert all(set(b) <= set(start.tolist()) and b[1] > b[0] for b in batches[:-1])
    assert list(cell_batches(start, 1_000)) == [(0, 100)]


def test_grid_counts_carry_across_calls_what_one_pass_counts():
    from napari_crant.demo.chunk_groups import GridCounts

    rng = np.random.default_rng(5)
    ckey = (rng.integers(0, 4, 3_000) << 20 | rng.integers(0, 3, 3_000) << 10
            | rng.integers(0, 2, 3_000)).astype(np.int32)
    weight = rng.integers(1, 7, 3_000)
    expected_rank = np.empty(3_000, dtype=np.int64)
    expected_sum = np.empty(3_000, dtype=np.int64)
    seen: dict[int, list[int]] = {}
    for i, (k, w) in enumerate(zip(ckey.tolist(), weight.tolist(), strict=True)):
        before = seen.setdefault(k, [0, 0])
        expected_rank[i], expected_sum[i] = before
        before[0] += 1
        before[1] += w
    counts = GridCounts(ckey, slice_rows=700)
    assert len(counts.cells) == len(np.unique(ckey))
    for cuts in ([0, 3_000], [0, 1, 2, 999, 1_000, 2_500, 3_000]):
        counts.reset()
        rank = np.concatenate([counts.add(ckey[a:b], np.ones(b - a, dtype=np.int64))
                               for a, b in itertools.pairwise(cuts)])
        assert np.array_equal(rank, expected_rank)
        counts.reset()
        sums = np.concatenate([counts.add(ckey[a:b], weight[a:b])
                               for a, b in itertools.pairwise(cuts)])
        assert np.array_equal(sums, expected_sum)


def test_build_chunks_holds_a_batch_not_every_node(monkeypatch, tmp_path, geometry, pieces):
    nodes = geometry.nodes
    n = len(nodes.entity)

    def peak(batch: int, name: str) -> float:
        monkeypatch.setattr(chunks, "_BATCH_NODES", batch)
        monkeypatch.setattr(chunks, "_SLICE_ROWS", min(batch, 1 << 21))
        monkeypatch.setattr(chunks, "_DRAW_ROWS", min(batch, 1 << 21))
        _, traced = _traced_peak(lambda: chunks.build_chunks(
            nodes, pieces, stage_rng(3, 7), table_out=tmp_path / name))
        return traced / n  # bytes a node

    one_batch, batched = peak(10**9, "whole"), peak(97, "batched")
    # the outputs (the nodes' L2 index, ~40 bytes an L2 chunk) and one batch's temporaries;
    # grouping all nodes at once holds ~90 bytes a node here
    assert batched < 60 and batched < 0.66 * one_batch, (batched, one_batch)


@pytest.mark.parametrize("batch", [1, 50, 997])
def test_cables_made_a_batch_at_a_time_are_the_same(monkeypatch, batch):
    from napari_crant.demo import arbors

    rng = np.random.default_rng(2)
    start = rng.uniform(0, 100, (400, 3))
    end = start + rng.normal(0, 20, (400, 3))
    end[7] = start[7]  # a one-node cable
    monkeypatch.setattr(arbors, "_CABLE_BATCH", 10**9)
    whole, whole_peak = _traced_peak(lambda: arbors.cables(
        start, end, np.arange(400), 400, np.random.default_rng(3)))
    monkeypatch.setattr(arbors, "_CABLE_BATCH", batch)
    batched, batched_peak = _traced_peak(lambda: arbors.cables(
        start, end, np.arange(400), 400, np.random.default_rng(3)))
    for a, b in zip(whole, batched, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    pos, parent, last, _cable = batched
    assert np.allclose(pos[last - 400], end, atol=1e-4)  # every cable ends at its end
    assert parent[0] == 0 and parent[last[0] - 400 + 1] == 1
    n_nodes = len(pos)
    assert n_nodes > 20 * batch or batch == 997
    if batch == 50:  # the float64 walk of a batch, not of all nodes (~130 bytes a node)
        assert batched_peak / n_nodes < 40 < whole_peak / n_nodes


def test_contact_sides_and_l2_edges_in_slices_are_the_same(geometry, pieces):
    nodes = geometry.nodes
    whole = find_contacts(nodes, 1.2, stage_rng(3, 4))
    sliced = find_contacts(nodes, 1.2, stage_rng(3, 4), chunk=37)
    assert np.array_equal(whole.pre, sliced.pre) and np.array_equal(whole.post, sliced.post)
    assert whole.pre.dtype == np.int32 and len(whole.pre) > 10 * 37
    ch = chunks.build_chunks(nodes, pieces, stage_rng(3, 7))
    extra = [(int(a), int(b)) for a, b in zip(whole.pre[:20], whole.post[:20], strict=True)]
    edges = chunks.l2_edges_table(nodes, ch, extra)
    assert edges.equals(chunks.l2_edges_table(nodes, ch, extra, slice_nodes=97))
    a, b = edges["l2_a"].to_numpy(), edges["l2_b"].to_numpy()
    assert a.dtype == np.uint64 and (a < b).all()
    assert np.array_equal(np.lexsort((b, a)), np.arange(len(a)))  # sorted
    assert not ((a[1:] == a[:-1]) & (b[1:] == b[:-1])).any()  # distinct


def test_frame_on_disk_is_written_in_slices_and_read_back_whole(tmp_path):
    from napari_crant.demo.spill import FrameOnDisk

    ids = np.arange(1_000, dtype=np.uint64) + np.uint64(648518346341351424)  # 18 digits
    frame = FrameOnDisk(tmp_path / "t", {"l2_id": np.uint64, "x": np.float64}, 1_000)
    for lo in range(0, 1_000, 300):
        frame.write("l2_id", ids[lo:lo + 300])
    frame.write("x", np.linspace(0, 1, 1_000))
    frame.close()
    back = frame.read()
    assert back["l2_id"].dtype == np.uint64 and np.array_equal(back["l2_id"], ids)
    assert np.array_equal(back["x"], np.linspace(0, 1, 1_000))
    assert not (tmp_path / "t").exists()
    short = FrameOnDisk(tmp_path / "s", {"a": np.int64}, 5)
    with pytest.raises(ValueError, match="more than 5 rows"):
        short.write("a", np.arange(6))
    short.write("a", np.arange(4))
    with pytest.raises(ValueError, match="do not have their 5 rows"):
        short.close()
    short.remove()
    assert not (tmp_path / "s").exists()


def test_no_node_is_held_once_the_synapses_are_drawn(monkeypatch):
    import weakref

    from napari_crant.demo import generator

    refs, dead = [], []
    geometry_of, supervoxels_of = generator.demo_geometry, generator.supervoxels_table

    def recording(*args, **kwargs):
        made = geometry_of(*args, **kwargs)
        refs.append(weakref.ref(made.nodes))
        return made

    def checking(*args, **kwargs):  # called after the draw, when the tables are handed over
        dead.append(refs[0]() is None)
        return supervoxels_of(*args, **kwargs)

    monkeypatch.setattr(generator, "demo_geometry", recording)
    monkeypatch.setattr(generator, "supervoxels_table", checking)
    generator.build_demo_tables(TINY_NEURONS, seed=3, validate=False)
    assert dead == [True]  # nothing (a parked field's owner, say) keeps the nodes alive


# --- stage 4's k-d tree in tiles (session 8) --------------------------------------------------


@pytest.fixture(scope="module")
def geometry_300():
    return demo_geometry(300, seed=3)


@pytest.mark.parametrize("tile_nodes", [1, 500, 10**9])
def test_contacts_found_tile_by_tile_are_those_of_one_tree(geometry_300, tile_nodes):
    from napari_crant.demo import contacts

    nodes = geometry_300.nodes
    one_tree = find_contacts(nodes, 0.9, stage_rng(3, 4), tile_nodes=10**9)
    slabs = contacts._slabs(nodes.pos, np.arange(len(nodes.comp)), tile_nodes, 1 << 18)
    if tile_nodes < 10**9:
        assert len(slabs) > 30  # many tiles, each with its halo
    tiled = find_contacts(nodes, 0.9, stage_rng(3, 4), chunk=4096, tile_nodes=tile_nodes)
    assert len(one_tree.pre) > 10_000
    assert np.array_equal(one_tree.pre, tiled.pre) and np.array_equal(one_tree.post, tiled.post)
    assert tiled.pre.dtype == np.int32


def _nodes_on_a_lattice(n_nodes, n_cells, seed):
    """Nodes on a coarse lattice (coordinates multiples of 1/4: exact distances, many equal,
    many nodes at one point), of ``n_cells`` cells, axons and dendrites."""
    from napari_crant.demo.morphology import AXON, DENDRITE, Nodes

    rng = np.random.default_rng(seed)
    pos = (rng.integers(0, 6, (n_nodes, 3)) * 0.25).astype(np.float32)
    entity = np.sort(rng.integers(0, n_cells, n_nodes)).astype(np.int32)
    comp = np.where(rng.random(n_nodes) < 0.5, AXON, DENDRITE).astype(np.int8)
    start = np.searchsorted(entity, np.arange(n_cells + 1)).astype(np.int64)
    return Nodes(pos=pos, parent=np.full(n_nodes, -1, np.int32), entity=entity, comp=comp,
                 radius=np.ones(n_nodes, np.float32), start=start)


def _contacts_by_brute_force(nodes, radius, rng):
    """The rule of ``find_contacts`` from every distance: of a presynaptic node's 8 nearest
    postsynaptic nodes closer than ``radius`` (at equal distances the lower index first),
    the nearest of every other cell."""
    from napari_crant.demo import contacts

    pre_idx, post_idx = contacts._sides(nodes.comp, rng, np.dtype(np.int32), 1 << 18)
    pos = nodes.pos.astype(np.float64)
    out_pre, out_post = [], []
    for a in pre_idx:
        d = np.sqrt(((pos[post_idx] - pos[a]) ** 2).sum(axis=1))
        near = np.flatnonzero(d < radius)
        near = near[np.lexsort((post_idx[near], d[near]))][:contacts.NEAREST]
        seen = {int(nodes.entity[a])}
        for j in post_idx[near]:
            if int(nodes.entity[j]) not in seen:
                seen.add(int(nodes.entity[j]))
                out_pre.append(a)
                out_post.append(j)
    return np.array(out_pre, np.int32), np.array(out_post, np.int32)


@pytest.mark.parametrize("tile_nodes", [1, 40, 10**9])
def test_contacts_at_equal_distances_follow_the_node_order_in_any_tile(tile_nodes):
    nodes = _nodes_on_a_lattice(900, 60, seed=5)  # ~4 nodes a lattice point: many ties
    pre, post = _contacts_by_brute_force(nodes, 0.6, stage_rng(1, 4))
    found = find_contacts(nodes, 0.6, stage_rng(1, 4), chunk=64, tile_nodes=tile_nodes)
    assert len(pre) > 1000
    assert np.array_equal(found.pre, pre) and np.array_equal(found.post, post)


def test_find_contacts_holds_a_tile_not_a_tree_of_every_node(geometry_300):
    nodes = geometry_300.nodes
    n_nodes = len(nodes.comp)
    _, one_tile = _traced_peak(
        lambda: find_contacts(nodes, 1.2, stage_rng(3, 4), chunk=4096, tile_nodes=10**9))
    _, tiled = _traced_peak(
        lambda: find_contacts(nodes, 1.2, stage_rng(3, 4), chunk=4096, tile_nodes=1000))
    # one tree of every postsynaptic node: its float64 positions and index, ~20 bytes a
    # node (the code before the tiles traced ~37 bytes a node here, the one-tile run ~54)
    assert tiled / n_nodes < 28 < one_tile / n_nodes
    assert tiled < 0.6 * one_tile


# --- the base tables' sorts on disk (session 8) -----------------------------------------------


@pytest.fixture(scope="module")
def tables_300():
    from napari_crant.demo import build_demo_tables

    return build_demo_tables(300, seed=3, validate=False)


def _write_base_tables(directory, tables):
    from napari_crant.snapshot.base_tables import BaseTablesWriter

    writer = BaseTablesWriter(directory)
    writer.put(l2=tables.l2)
    writer.put(supervoxels=tables.supervoxels)
    writer.put(roots=tables.roots, root_l2=tables.root_l2, versions=tables.versions,
               lineage=tables.lineage)
    return writer


@pytest.mark.parametrize("run_rows", [997, 9973])
def test_base_tables_sorted_in_runs_are_the_same_files(monkeypatch, tmp_path, tables_300,
                                                       run_rows):
    from napari_crant.snapshot import base_tables
    from napari_crant.snapshot import format as fmt

    whole = _write_base_tables(tmp_path / "whole", tables_300)  # one run each
    monkeypatch.setattr(base_tables, "RUN_ROWS", run_rows)
    monkeypatch.setattr(base_tables, "SLICE_ROWS", 1000)
    runs = _write_base_tables(tmp_path / "runs", tables_300)
    assert len(tables_300.root_l2) > 3 * 9973 and len(tables_300.supervoxels) > 7 * 9973
    for name in (fmt.SUPERVOXELS, fmt.ROOT_L2, fmt.L2_ROOTS):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "runs" / name).read_bytes()
    a, b = whole.keys(), runs.keys()
    assert np.array_equal(a.root_of_l2.l2_id, b.root_of_l2.l2_id)
    assert np.array_equal(a.root_of_l2.root_id, b.root_of_l2.root_id)
    assert np.array_equal(a.sv_to_l2.sv_id, b.sv_to_l2.sv_id)
    assert a.layout == b.layout and whole.counts() == runs.counts()


def test_base_tables_never_sort_more_than_a_run(monkeypatch, tmp_path, tables_300):
    from napari_crant.snapshot import base_tables

    monkeypatch.setattr(base_tables, "RUN_ROWS", 997)
    monkeypatch.setattr(base_tables, "SLICE_ROWS", 1000)
    writer = base_tables.BaseTablesWriter(tmp_path)
    writer.put(l2=tables_300.l2)  # the l2 table is sorted whole (not bounded yet)
    sorted_rows = []
    lexsort, argsort = np.lexsort, np.argsort

    def counting_lexsort(keys, *args, **kwargs):
        sorted_rows.append(len(keys[0]))
        return lexsort(keys, *args, **kwargs)

    def counting_argsort(a, *args, **kwargs):
        if sys._getframe(1).f_code.co_name != "_range_bounds":  # 256 samples a run
            sorted_rows.append(len(a))
        return argsort(a, *args, **kwargs)

    monkeypatch.setattr(np, "lexsort", counting_lexsort)
    monkeypatch.setattr(np, "argsort", counting_argsort)
    writer.put(supervoxels=tables_300.supervoxels)
    writer.put(roots=tables_300.roots, root_l2=tables_300.root_l2,
               versions=tables_300.versions, lineage=tables_300.lineage)
    assert len(tables_300.supervoxels) > 50 * 997 and len(tables_300.root_l2) > 20 * 997
    # sorted a run (or a merged range of about one run) at a time, never every row at once
    assert sorted_rows and max(sorted_rows) < 3 * 997


@pytest.mark.parametrize("slice_nodes", [97, 1 << 22])
def test_l2_edges_written_to_disk_are_the_table_in_memory(tmp_path, geometry, pieces,
                                                          slice_nodes):
    nodes = geometry.nodes
    ch = chunks.build_chunks(nodes, pieces, stage_rng(3, 7))
    extra = [(0, len(nodes.entity) - 1)]
    in_memory = chunks.l2_edges_table(nodes, ch, extra)
    on_disk = chunks.l2_edges_table(nodes, ch, extra, slice_nodes=slice_nodes,
                                    out=tmp_path / "edges")
    assert on_disk.n_rows == len(in_memory) > 3 * 97
    assert on_disk.read().equals(in_memory)
    assert not (tmp_path / "edges").exists()


def test_l2_edges_in_order_or_not_give_the_same_file(tmp_path, tables_300):
    from napari_crant.snapshot import base_tables
    from napari_crant.snapshot import format as fmt

    edges = tables_300.l2_edges
    a, b = edges["l2_a"].to_numpy(), edges["l2_b"].to_numpy()
    assert base_tables._pairs_in_order(a, b)  # as the demo makes them
    shuffled = edges.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert not base_tables._pairs_in_order(shuffled["l2_a"].to_numpy(),
                                           shuffled["l2_b"].to_numpy())
    files = []
    for name, table in (("in_order", edges), ("shuffled", shuffled)):
        writer = base_tables.BaseTablesWriter(tmp_path / name)
        writer.put(l2_edges=table)
        files.append((tmp_path / name / fmt.L2_EDGES).read_bytes())
    assert files[0] == files[1]
