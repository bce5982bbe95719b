"""Stage 3's nodes put in cell order on disk (session 9): the nodes in memory, bit for bit, as
read-only memory maps; stage 3 holds no array of every node; the stages after it read them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_crant.demo import TINY_NEURONS, arbors, make_demo, node_files
from napari_crant.demo.generator import demo_geometry
from napari_crant.demo.spill import Parked

FIELDS = ("pos", "parent", "entity", "comp", "radius", "start")


def _traced_peak(fn):
    """``fn()``'s result, the most memory traced while it ran and what was still traced at its
    end, both above what was held when it started."""
    import tracemalloc

    tracemalloc.start()
    try:
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = fn()
        now, peak = tracemalloc.get_traced_memory()
        return out, peak - held, now - held
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def in_memory():
    return demo_geometry(TINY_NEURONS, seed=5).nodes


@pytest.mark.parametrize("rows", [7, 997, 10**9])
def test_nodes_on_disk_are_the_nodes_in_memory(monkeypatch, tmp_path, in_memory, rows):
    monkeypatch.setattr(node_files, "ASSEMBLE_ROWS", rows)
    monkeypatch.setattr(arbors, "_CABLE_BATCH", 101)  # the cables handed over in batches
    on_disk = demo_geometry(TINY_NEURONS, seed=5, scratch=tmp_path / "nodes").nodes
    assert len(in_memory.entity) > 100 * 7
    for name in FIELDS:
        a, b = getattr(in_memory, name), getattr(on_disk, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name
    for name in FIELDS[:-1]:  # every per-node array is a read-only map of a file there
        mapped = getattr(on_disk, name)
        assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
        assert str(tmp_path / "nodes") in str(mapped.filename)
    assert sorted(p.name for p in (tmp_path / "nodes").iterdir()) == sorted(
        f"{name}.npy" for name in FIELDS[:-1])  # the growth-order files are gone


def test_cables_and_arbors_handed_over_as_made_are_the_ones_returned():
    rng = np.random.default_rng(4)
    start = rng.uniform(0, 100, (50, 3))
    end = start + rng.normal(0, 30, (50, 3))
    whole = arbors.cables(start, end, np.arange(50), 50, np.random.default_rng(1))
    parts = []
    kept = arbors.cables(start, end, np.arange(50), 50, np.random.default_rng(1),
                         emit=lambda *made: parts.append(made))
    assert len(kept[0]) == len(kept[1]) == len(kept[3]) == 0
    assert np.array_equal(kept[2], whole[2])  # the cables' last nodes
    for i in (0, 1, 2):
        joined = np.concatenate([p[i] for p in parts])
        ref = whole[(0, 1, 3)[i]]
        assert joined.dtype == ref.dtype and np.array_equal(joined, ref)

    args = (np.arange(5), rng.uniform(0, 10, (5, 3)), rng.uniform(0, 10, (5, 3)),
            np.full((5, 3), 4.0), np.full(5, 60), 5)
    whole = arbors.grow_arbors(*args, np.random.default_rng(2))
    parts = []
    kept = arbors.grow_arbors(*args, np.random.default_rng(2), emit=lambda *m: parts.append(m))
    assert all(len(k) == 0 for k in kept) and len(parts) > 10
    for i in (0, 1, 2):
        assert np.array_equal(np.concatenate([p[i] for p in parts]), whole[i])


def test_stage_3_on_disk_holds_no_array_of_every_node(monkeypatch, tmp_path):
    monkeypatch.setattr(node_files, "ASSEMBLE_ROWS", 4096)
    monkeypatch.setattr(arbors, "_CABLE_BATCH", 4096)
    memory, memory_peak, memory_held = _traced_peak(lambda: demo_geometry(300, seed=3))
    disk, disk_peak, disk_held = _traced_peak(
        lambda: demo_geometry(300, seed=3, scratch=tmp_path / "nodes"))
    n_nodes = len(memory.nodes.entity)
    assert n_nodes > 50_000 and len(disk.nodes.entity) == n_nodes
    # in memory: 25 bytes a node kept, ~42 at the peak (the parts and the sorted copies);
    # on disk: what grows the arbors of every cell at once (their live tips) and a slice
    assert memory_held / n_nodes > 24 and memory_peak / n_nodes > 35
    assert disk_held / n_nodes < 2, disk_held / n_nodes
    assert disk_peak / n_nodes < 25 and disk_peak < 0.6 * memory_peak, (disk_peak, memory_peak)


def test_parked_memory_maps_stay_as_they_are(tmp_path):
    import types

    path = tmp_path / "a.npy"
    np.save(path, np.arange(1000, dtype=np.int32))
    mapped = np.load(path, mmap_mode="r")
    box = types.SimpleNamespace(a=mapped, b=np.arange(3))
    parked = Parked(box, ["a", "b"], tmp_path / "p")
    assert box.a is None and not (tmp_path / "p" / "a.npy").exists()  # nothing copied
    assert parked.on_disk("a") is mapped
    parked.restore()
    assert box.a is mapped and box.b.tolist() == [0, 1, 2]


def test_demo_with_nodes_on_disk_in_small_slices_is_the_same(monkeypatch, tmp_path):
    monkeypatch.setattr(node_files, "ASSEMBLE_ROWS", 10**9)
    one = make_demo(tmp_path / "one", TINY_NEURONS, seed=2)
    monkeypatch.setattr(node_files, "ASSEMBLE_ROWS", 333)
    monkeypatch.setattr(arbors, "_CABLE_BATCH", 57)
    sliced = make_demo(tmp_path / "sliced", TINY_NEURONS, seed=2)
    a, b = (json.loads((p / "manifest.json").read_text()) for p in (one, sliced))
    assert a["files"] == b["files"] and a["counts"] == b["counts"]
    assert not list(sliced.glob(".demo-scratch-*"))  # the nodes' files went with the scratch


# --- the synapse files' keys as mapped files (session 9) ---------------------------------------


@pytest.fixture(scope="module")
def tables_300():
    from napari_crant.demo import build_demo_tables

    return build_demo_tables(300, seed=3, validate=False)


def _put_all(writer, tables):
    writer.put(l2=tables.l2)
    writer.put(supervoxels=tables.supervoxels)
    writer.put(roots=tables.roots, root_l2=tables.root_l2, versions=tables.versions,
               lineage=tables.lineage)
    return writer


def test_keys_in_files_are_the_keys_in_memory_and_not_heap(tmp_path, tables_300):
    from napari_crant.snapshot.base_tables import BaseTablesWriter

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    memory, memory_peak, memory_held = _traced_peak(
        lambda: _put_all(BaseTablesWriter(tmp_path / "a"), tables_300))
    mapped, mapped_peak, mapped_held = _traced_peak(
        lambda: _put_all(BaseTablesWriter(tmp_path / "b", keys_dir=tmp_path / "keys"),
                         tables_300))
    for name in sorted(p.name for p in (tmp_path / "a").iterdir()):  # the same files
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        p.name for p in (tmp_path / "a").iterdir())  # nothing more in the snapshot
    a, b = memory.keys(), mapped.keys()
    pairs = ((a.sv_to_l2.sv_id, b.sv_to_l2.sv_id), (a.sv_to_l2.l2_id, b.sv_to_l2.l2_id),
             (a.root_of_l2.l2_id, b.root_of_l2.l2_id), (a.root_of_l2.root_id, b.root_of_l2.root_id))
    for x, y in pairs:
        assert y.dtype == x.dtype == np.uint64 and np.array_equal(x, y)
        assert isinstance(y.base, np.memmap) or isinstance(y, np.memmap)  # a file's pages
    assert a.layout == b.layout
    n_sv = len(tables_300.supervoxels)
    # in memory the writer keeps 16 bytes a supervoxel and a chunk (plus the chunk IDs)
    assert memory_held / n_sv > 20 and mapped_held / n_sv < 2, (memory_held, mapped_held)
    assert mapped_peak < memory_peak


def test_make_demo_drops_the_keys_before_the_synapse_sorts(monkeypatch, tmp_path):
    import weakref

    from napari_crant.demo import generator
    from napari_crant.snapshot.base_tables import BaseTablesWriter

    refs, alive = [], []
    keys_of, write = BaseTablesWriter.keys, generator.write_synapse_files

    def recording(self):
        keys = keys_of(self)
        refs.append(weakref.ref(keys))
        return keys

    def checking(batches, directory, **kwargs):  # every row handed over, then the sorts
        rows = list(batches)
        alive.append(refs[0]() is not None)
        return write(iter(rows), directory, **kwargs)

    monkeypatch.setattr(BaseTablesWriter, "keys", recording)
    monkeypatch.setattr(generator, "write_synapse_files", checking)
    make_demo(tmp_path / "d", TINY_NEURONS, seed=3)
    assert alive == [False]
    assert not list((tmp_path / "d").glob(".demo-scratch-*"))


# --- stage 4's lists and stage 6's L2 index of every node as mapped files (session 9) ----------


@pytest.fixture(scope="module")
def geometry_300():
    return demo_geometry(300, seed=3)


def test_contact_lists_in_files_are_the_lists_in_memory(tmp_path, geometry_300):
    from napari_crant.demo.arrays import stage_rng
    from napari_crant.demo.contacts import find_contacts

    nodes = geometry_300.nodes
    memory, _, memory_held = _traced_peak(
        lambda: find_contacts(nodes, 1.2, stage_rng(3, 4), chunk=4096, tile_nodes=5000))
    mapped, _, mapped_held = _traced_peak(
        lambda: find_contacts(nodes, 1.2, stage_rng(3, 4), chunk=4096, tile_nodes=5000,
                              out=tmp_path / "lists"))
    for a, b in ((memory.pre, mapped.pre), (memory.post, mapped.post)):
        assert a.dtype == b.dtype and np.array_equal(a, b) and len(a) > 10_000
        assert isinstance(b, np.memmap)
    n_nodes = len(nodes.comp)
    # the contacts in memory: 8 bytes each (~0.5 a node here); mapped: nothing per node
    assert memory_held / n_nodes > 3 and mapped_held / n_nodes < 0.5, (memory_held, mapped_held)
    assert {p.name for p in (tmp_path / "lists").iterdir()} >= {"pre.npy", "post.npy"}


def test_l2_index_of_the_nodes_in_a_file_is_the_one_in_memory(tmp_path, geometry_300):
    from napari_crant.demo import chunks
    from napari_crant.demo.arrays import stage_rng

    nodes = geometry_300.nodes
    piece = np.random.default_rng(0).integers(0, 3, len(nodes.entity)).astype(np.int8)
    memory = chunks.build_chunks(nodes, piece, stage_rng(3, 7))
    mapped = chunks.build_chunks(nodes, piece, stage_rng(3, 7), node_out=tmp_path / "l2")
    assert isinstance(mapped.l2_of_node, np.memmap) and not mapped.l2_of_node.flags.writeable
    assert mapped.l2_of_node.dtype == memory.l2_of_node.dtype
    assert np.array_equal(mapped.l2_of_node, memory.l2_of_node)
    assert np.array_equal(mapped.l2_id, memory.l2_id)


def _mapping_rss_kb(path):
    """Resident kB of this process's mappings of ``path`` (from ``/proc/self/smaps``)."""
    from pathlib import Path

    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's header
            inside = len(head) >= 6 and head[5] == str(path)
        elif inside and line.startswith("Rss:"):
            total += int(head[1])
    return total


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/smaps").exists(),
                    reason="needs /proc/self/smaps")
def test_released_pages_leave_the_resident_set_and_keep_their_values(tmp_path):
    from napari_crant.snapshot.key_files import release_pages

    path = tmp_path / "a.npy"
    written = np.lib.format.open_memmap(path, mode="w+", dtype=np.int64, shape=(4_000_000,))
    written[:] = np.arange(4_000_000)
    assert _mapping_rss_kb(path) > 30_000  # 32 MB touched
    release_pages(written[10:], None, np.zeros(3))  # a view reaches its mapping; others ignored
    assert _mapping_rss_kb(path) < 1_000
    written.flush()
    mapped = np.load(path, mmap_mode="r")
    assert int(mapped.sum()) == 4_000_000 * 3_999_999 // 2 and _mapping_rss_kb(path) > 30_000
    release_pages(np.asarray(mapped))
    assert _mapping_rss_kb(path) < 1_000 and mapped[123_456] == 123_456  # read again


def test_release_pages_leaves_copy_on_write_maps_alone(tmp_path):
    from napari_crant.snapshot.key_files import release_pages

    path = tmp_path / "c.npy"
    np.save(path, np.zeros(1_000_000, dtype=np.int64))
    private = np.load(path, mmap_mode="c")
    private[:] = 7  # changes only in this process's pages
    release_pages(private, private[5:])
    assert int(private.sum()) == 7_000_000 and np.load(path)[0] == 0
