"""A deterministic, realistic demo connectome in the snapshot format: the orchestration.

:func:`build_demo_tables` draws a made-up ant central brain (see
:mod:`napari_crant.demo.anatomy`) and returns it as
:class:`~napari_crant.snapshot.SnapshotTables`; :func:`make_demo` also writes it.

The stages, each a function from plain data to plain data (dataclasses of numpy arrays)
with its own random generator (:func:`~napari_crant.demo.arrays.stage_rng`):

==  =========================  ====================================================
1   ``population.py``          neuropils and their zones
2   ``population.py``          cells: type, side, soma or entry point, radii
3   ``morphology.py``          skeletons: neurites, cables, arbors (``arbors.py``)
4   ``contacts.py``            node pairs of different cells close enough to synapse
5   ``edits.py``               segmentation errors, the edits fixing them, their times
6   ``chunks.py``              level-2 chunks, supervoxels, PyChunkedGraph-style IDs
7   ``history.py``             replayed edits: roots, lineage, root -> L2 membership
8   ``synapses.py``            synapses at contacts (heavy-tailed weights), their IDs
9   ``anomalies.py``           planted QC anomalies, unsegmented synapse sites
10  ``annotations.py``         CRANTb annotations (some root IDs outdated), nuclei
==  =========================  ====================================================

:func:`demo_geometry` runs stages 1-3 alone, for code that needs the arbors themselves.
Nothing depends on the wall clock or on hash order: the same ``seed`` gives the same tables.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_crant.demo import anatomy
from napari_crant.demo.annotations import annotate
from napari_crant.demo.arrays import stage_rng
from napari_crant.demo.chunks import (
    CHUNK_VOXELS,
    VOXEL_RESOLUTION,
    build_chunks,
    l2_edges_table,
    supervoxels_table,
)
from napari_crant.demo.contacts import Contacts, find_contacts
from napari_crant.demo.edits import plan_edits, schedule_edits
from napari_crant.demo.history import replay_history, root_l2_table, roots_table
from napari_crant.demo.morphology import Nodes, grow_morphology
from napari_crant.demo.population import Cells, Neuropils, draw_neuropils, draw_population
from napari_crant.demo.skeleton import skeleton_nodes_table, write_skeleton_nodes
from napari_crant.demo.spill import Parked
from napari_crant.demo.synapse_stream import COLUMNS as SYNAPSE_COLUMNS
from napari_crant.demo.synapse_stream import SynapseStream
from napari_crant.demo.timeline import VERSIONS, timestamp_us, to_utc
from napari_crant.snapshot import SnapshotTables
from napari_crant.snapshot.base_tables import BaseTablesWriter
from napari_crant.snapshot.format import SKELETON_NODES
from napari_crant.snapshot.key_files import release_pages
from napari_crant.snapshot.synapse_files import synapse_records, write_synapse_files
from napari_crant.snapshot.writer import begin_snapshot, commit_snapshot

#: Revision of what the demo's files hold; the demo cache is keyed by it, so a cached demo
#: from an older napari-crant (without ``skeleton_nodes.arrow``, say) is rebuilt, never reused.
#: 3: synapses drawn block by block (``synapse_stream.BLOCK`` rows): a demo of more synapses
#: than one block draws other random numbers than revision 2 did (smaller ones are the same).
DEMO_REVISION = 3
#: A small variant that builds in a second or two, for tests.
TINY_NEURONS = 40
#: Default number of synapses drawn per neuron (pre and post side counted once).
DEFAULT_SYNAPSES_PER_NEURON = 300.0
#: A well-connected, proofread, never-edited neuron of the default demo (``n_neurons=1000,
#: seed=0``): a uniglomerular olfactory projection neuron (``uPN_G09``, right), to show first.
DEMO_NEURON = 576460753003437681


@dataclass
class DemoGeometry:
    """Stages 1-3 of the demo: neuropils, cells and their skeletons (micrometres)."""

    neuropils: Neuropils
    cells: Cells
    nodes: Nodes


def demo_geometry(n_neurons: int = 1000, seed: int = 0,
                  scratch: Path | None = None) -> DemoGeometry:
    """Neuropils, cells and skeletons of the demo brain, as :func:`build_demo_tables` draws them.

    Parameters
    ----------
    n_neurons
        Number of neurons; about 4% more small orphan fragments are added.
    seed
        Seed of the random generators.
    scratch
        If given (a new directory), the skeleton nodes are memory maps of files there, made
        without holding every node in memory (see
        :func:`~napari_crant.demo.morphology.grow_morphology`); the same values.

    Returns
    -------
    DemoGeometry
    """
    if n_neurons < 1:
        raise ValueError("n_neurons must be positive")
    n_frag = max(2, round(0.04 * n_neurons))
    nps = draw_neuropils(stage_rng(seed, 1))
    cells = draw_population(n_neurons, n_frag, stage_rng(seed, 2))
    zone_scale = float(np.clip(np.sqrt(n_neurons / 10_000), 0.3, 1.0))
    nodes = grow_morphology(cells, nps, zone_scale, stage_rng(seed, 3), scratch=scratch)
    return DemoGeometry(nps, cells, nodes)


def _draw_demo(n_neurons: int, seed: int, synapses_per_neuron: float, scratch: Path,
               put: Callable[..., None], skeleton_out: Path | None = None,
               nodes_on_disk: bool = False) -> tuple[dict, SynapseStream, int]:
    """Every stage: the tables but the synapses handed to ``put``, the synapse stream.

    Each table is handed to ``put`` (keyword: the table's name, as
    :meth:`~napari_crant.snapshot.base_tables.BaseTablesWriter.put` takes them; ``l2``
    before the tables naming L2 chunks) as soon as the stages have made it, and dropped
    here. With ``skeleton_out`` the skeleton nodes are written there in slices, otherwise
    they are handed to ``put``. ``scratch`` (a directory) holds the staged synapses and the
    parked stage results, and with ``nodes_on_disk`` the skeleton nodes, which the stages
    then read through memory maps (file pages, not heap). Returns the snapshot's ``info``,
    the stream and the number of skeleton nodes.

    Every stage draws from its own random generator, so the stages run in the order that
    holds the least at once, and what the synapse stage does not read waits on disk
    (:class:`~napari_crant.demo.spill.Parked`) while the synapses are drawn.
    """
    geometry = demo_geometry(n_neurons, seed,
                             scratch=scratch / "nodes" if nodes_on_disk else None)
    nps, cells, nodes = geometry.neuropils, geometry.cells, geometry.nodes
    del geometry
    n_frag = len(cells.ctype) - n_neurons

    contact_r = float(np.clip((1000.0 / n_neurons) ** (1 / 3), 0.35, 1.2))
    # stage 4 reads the nodes' positions, cells and compartments, stage 5 also the parents:
    # the radii (read by stage 6) and the parents wait on disk meanwhile
    radius_parked = Parked(nodes, ["radius"], scratch / "radius")
    parent_parked = Parked(nodes, ["parent"], scratch / "parent")
    contacts = find_contacts(nodes, contact_r, stage_rng(seed, 4), scratch=scratch,
                             out=scratch / "contacts-lists" if nodes_on_disk else None)
    _release(nodes, contacts)
    parent_parked.restore()
    del parent_parked  # it refers to the nodes, which are dropped after the draw
    plan = plan_edits(nodes, cells, contacts, stage_rng(seed, 5))
    plan = schedule_edits(plan, stage_rng(seed, 6))
    _release(nodes, contacts)
    scenarios = plan.scenarios
    contacts_parked = Parked(contacts, ["pre", "post"], scratch / "contacts")  # until stage 9
    # the l2 table and the l2 edges are written to disk as they are made: both wait
    # until they are handed over
    radius_parked.restore()
    del radius_parked
    ch = build_chunks(nodes, plan.piece, stage_rng(seed, 7), table_out=scratch / "l2",
                      node_out=scratch / "l2-of-node" if nodes_on_disk else None)
    _release(nodes, ch)
    l2_table, ch.table = ch.table, None
    edited = plan.edited_entities(len(cells.ctype))
    del plan
    l2_edges = l2_edges_table(nodes, ch, [e for sc in scenarios for e in sc.false_edges],
                              out=scratch / "l2_edges")  # written to disk as it is made
    _release(nodes, ch)
    hist = replay_history(scenarios, ch.group_key, ch.l2_group, stage_rng(seed, 8))
    ch.l2_group = None  # read by the history only
    roots_parked = Parked(hist, ["root_of_l2"], scratch / "root_of_l2")  # until root_l2
    # stage 10 (its own random generator) and the skeleton nodes (none) now, while the
    # nodes and chunks are in memory for the synapses anyway: after the synapses are drawn
    # no node is needed again
    ann, nuclei = annotate(cells, nodes, ch, hist, scenarios, stage_rng(seed, 10))
    put(annotations=ann, nuclei=nuclei)
    _release(nodes, ch)
    del ann, nuclei
    if skeleton_out is None:
        put(skeleton_nodes=skeleton_nodes_table(nodes, ch))
        n_skeleton = len(nodes.entity)
    else:
        n_skeleton = write_skeleton_nodes(nodes, ch, skeleton_out)
    nodes.radius = None  # read by the skeleton only
    _release(nodes, ch)
    # the synapse stage reads the nodes' positions, parents, cells and compartments and the
    # supervoxels of every node's L2 chunk: the L2 IDs wait on disk meanwhile
    ids_parked = Parked(ch, ["l2_id"], scratch / "l2_id")
    synapse_rng = stage_rng(seed, 9)
    # the contacts are read from disk a slice at a time, and the kept ones written there
    # and read back a block of rows at a time
    drawn = SynapseStream.contact_synapses(
        nodes, cells, Contacts(contacts_parked.on_disk("pre"), contacts_parked.on_disk("post")),
        synapses_per_neuron, synapse_rng, seed, scratch=scratch / "kept")
    _release(nodes, ch, Contacts(contacts_parked.on_disk("pre"),
                                         contacts_parked.on_disk("post")))
    contacts_parked.remove()
    del contacts
    stream = SynapseStream(nodes, cells, ch, drawn, edited, synapse_rng,
                           scratch / "synapses.staging")
    shutil.rmtree(scratch / "kept", ignore_errors=True)
    del drawn, edited, nodes
    try:
        ch.l2_of_node = None
        # each table handed over as soon as it is made, what it came from dropped; the
        # supervoxels wait on disk while the l2 table is sorted
        sv_parked = Parked(ch, ["sv_first", "sv_count"], scratch / "supervoxels")
        put(l2=l2_table.read())
        ids_parked.restore()
        sv_parked.restore()
        put(supervoxels=supervoxels_table(ch))
        ch.sv_first = ch.sv_count = None
        versions = pd.DataFrame({
            "version": np.array([v[0] for v in VERSIONS], dtype=np.int64),
            "timestamp": to_utc(np.array([timestamp_us(v[1]) for v in VERSIONS],
                                         dtype=np.int64)),
            "valid": np.array([v[2] for v in VERSIONS], dtype=bool),
        })
        n_edits = int(hist.lineage["operation_id"].nunique())
        roots_parked.restore()
        put(roots=roots_table(hist), root_l2=root_l2_table(hist, ch.l2_id), versions=versions,
            lineage=hist.lineage)
        del ch, hist, versions
        put(l2_edges=l2_edges.read())
    except BaseException:
        stream.close()
        raise
    put(neuropils=pd.DataFrame({
        "name": pd.Series(nps.names, dtype=object),
        **{f"{ax}0": (nps.center[:, i] - nps.half[:, i]) * 1000.0 for i, ax in enumerate("xyz")},
        **{f"{ax}1": (nps.center[:, i] + nps.half[:, i]) * 1000.0 for i, ax in enumerate("xyz")},
    })[["name", "x0", "y0", "z0", "x1", "y1", "z1"]])

    info = {
        "name": "demo",
        "description": (
            f"Synthetic CRANTb-like ant central brain: {n_neurons} neurons of "
            f"{len(anatomy.CELL_TYPES)} cell types plus {n_frag} orphan fragments, "
            f"{stream.total} synapses, {len(scenarios)} proofreading episodes "
            f"({n_edits} edits). Made by "
            "napari_crant.demo; not real data."),
        "voxel_resolution": list(VOXEL_RESOLUTION),
        "synapse_table": "synapses_v2",
        "pcg_table": "demo_x1",
        "source": "demo",
        "seed": int(seed),
        "n_neurons": int(n_neurons),
        "n_fragments": int(n_frag),
        "synapses_per_neuron": float(synapses_per_neuron),
        "volume_nm": [v * 1000.0 for v in anatomy.VOLUME_UM],
        "chunk_size_voxels": list(CHUNK_VOXELS),
    }
    return info, stream, n_skeleton


def _release(*owners: object) -> None:
    """Between stages: the pages of the owners' memory-mapped arrays (``nodes_on_disk``)
    leave the resident set; they stay in the page cache. Arrays in memory are left alone."""
    release_pages(*(getattr(x, f, None) for x in owners
                    for f in ("pos", "parent", "entity", "comp", "radius", "l2_of_node", "pre",
                              "post")))


def _info(info: dict, stream: SynapseStream) -> dict:
    """The demo's info with the planted anomalies (known once the synapses are numbered)."""
    return {**info, "planted_anomalies": stream.anomalies}


def build_demo_tables(
    n_neurons: int = 1000,
    seed: int = 0,
    *,
    synapses_per_neuron: float = DEFAULT_SYNAPSES_PER_NEURON,
    validate: bool = True,
) -> SnapshotTables:
    """Draw a demo connectome: neurons, L2 chunks, synapses, edit history and annotations.

    Everything is held in memory; :func:`make_demo` writes a demo of any size in bounded
    memory instead.

    Parameters
    ----------
    n_neurons
        Number of neurons (with or without soma in the volume). About 4% more small
        orphan fragments are added.
    seed
        Seed of the random generator; the same seed always gives the same tables.
    synapses_per_neuron
        Target number of synapses per neuron (the total is about ``n_neurons`` times this,
        give or take a few percent). Tiny datasets have fewer: a neuron pair never gets
        more than a handful of synapses per contact.
    validate
        Check the tables with :meth:`SnapshotTables.validate` before returning them
        (:func:`~napari_crant.snapshot.write_snapshot` checks them again anyway).

    Returns
    -------
    SnapshotTables
        The tables, with the optional ``skeleton_nodes`` (the fine arbors, see
        :mod:`napari_crant.demo.skeleton`). ``info["planted_anomalies"]`` lists the
        synapse IDs planted for quality control, by kind.

    Examples
    --------
    >>> tables = build_demo_tables(TINY_NEURONS, seed=1)
    >>> len(tables.annotations) > TINY_NEURONS
    True
    """
    made: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="napari-crant-demo-") as scratch:
        info, stream, _ = _draw_demo(n_neurons, seed, synapses_per_neuron, Path(scratch),
                                     made.update)
        try:
            parts = list(stream.batches())
        finally:
            stream.close()
    columns = {k: np.concatenate([p[k] for p in parts]) for k in ("id", *SYNAPSE_COLUMNS)}
    del parts
    by_id = np.argsort(columns["id"], kind="stable")
    tables = SnapshotTables(info=_info(info, stream), **made,
                            synapses=pd.DataFrame({k: v[by_id] for k, v in columns.items()}))
    return tables.validate() if validate else tables


def make_demo(
    out: str | os.PathLike,
    n_neurons: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
    *,
    synapses_per_neuron: float = DEFAULT_SYNAPSES_PER_NEURON,
) -> Path:
    """Build the demo and write it as a snapshot directory, in bounded memory.

    The same tables as :func:`build_demo_tables`, but the synapses (the largest table) are
    drawn block by block to a staging file and written through an external sort, and the
    skeleton nodes are written in slices: memory grows with the neurons' arbors, not with
    the synapses (see ``docs/benchmarks.md``).

    Parameters
    ----------
    out
        Snapshot directory to create.
    n_neurons, seed, synapses_per_neuron
        See :func:`build_demo_tables`.
    overwrite
        Replace an existing directory at ``out``.

    Returns
    -------
    Path
        The snapshot directory.
    """
    tmp = begin_snapshot(out, overwrite)  # fails before the work if out exists
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".demo-scratch-", dir=tmp))
        # the synapse files' keys (sorted supervoxels, chunks' roots) as mapped files
        tables = BaseTablesWriter(tmp, keys_dir=scratch / "keys")
        info, stream, n_skeleton = _draw_demo(n_neurons, seed, synapses_per_neuron, scratch,
                                              tables.put, skeleton_out=tmp / SKELETON_NODES,
                                              nodes_on_disk=True)
        try:
            counts, held = tables.counts(), [tables.keys()]
            layout = held[0].layout
            del tables

            def records() -> Iterator[np.ndarray]:
                keys = held.pop()  # dropped once every row is handed over, before the sorts
                for batch in stream.batches():
                    yield synapse_records(batch, keys)
                    release_pages(keys.sv_to_l2.sv_id, keys.sv_to_l2.l2_id,  # mapped keys
                                  keys.root_of_l2.l2_id, keys.root_of_l2.root_id)

            n_synapses = write_synapse_files(records(), tmp)
        finally:
            stream.close()
            shutil.rmtree(scratch, ignore_errors=True)
        counts = {"synapses": n_synapses, **counts, "skeleton_nodes": n_skeleton}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return commit_snapshot(tmp, out, overwrite, _info(info, stream), counts, layout)
