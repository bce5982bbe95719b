"""attach_synapses puts each synapse on its own L2 chunk's node; nearest node only as the fallback."""

from __future__ import annotations

import navis
import numpy as np
import pandas as pd
import pytest
from cave_helpers import cave_source
from scipy.spatial import cKDTree

import napari_crant as nc
from napari_crant.ids import lookup_uint64
from napari_crant.sources.snapshot import SnapshotSource
from tiny import A0, A2, synapse_id


def _nearest(nodes: pd.DataFrame, cn: pd.DataFrame) -> np.ndarray:
    _, idx = cKDTree(nodes[["x", "y", "z"]].to_numpy()).query(cn[["x", "y", "z"]].to_numpy())
    return nodes["node_id"].to_numpy()[idx]


@pytest.mark.parametrize("mat", ["latest", "live"])
def test_synapses_go_to_their_own_chunk_on_snapshot_and_cave(demo_path, demo_server, mat):
    snap = SnapshotSource(demo_path)
    cave = cave_source(demo_server, annotations=demo_path)
    roots = snap.roots_table()
    alive = roots[roots["expired"].isna()]["root_id"].to_numpy(np.uint64)[:6]
    moved = 0
    for root in alive:
        n = nc.get_l2_skeleton(int(root), dataset=snap)
        cn = nc.attach_synapses(n, materialization=mat, dataset=snap).connectors.copy()
        assert len(cn) and (cn["attached_by"] == "l2").all()
        syn = nc.get_synapses(pre_ids=int(root), materialization=mat, dataset=snap)
        syn_in = nc.get_synapses(post_ids=int(root), materialization=mat, dataset=snap)
        own_sv = np.concatenate([
            lookup_uint64(syn["id"], syn["pre_pt_supervoxel_id"], cn["synapse_id"][cn["type"] == "pre"]),
            lookup_uint64(syn_in["id"], syn_in["post_pt_supervoxel_id"],
                          cn["synapse_id"][cn["type"] == "post"]),
        ])
        node_l2 = lookup_uint64(n.nodes["node_id"].to_numpy(np.uint64), n.nodes["l2_id"],
                                cn["node_id"].to_numpy(np.uint64))
        assert np.array_equal(node_l2, snap.l2_of_supervoxels(own_sv))
        moved += int((_nearest(n.nodes, cn) != cn["node_id"].to_numpy()).sum())
        n2 = nc.get_l2_skeleton(int(root), dataset=cave)
        pd.testing.assert_frame_equal(nc.attach_synapses(n2, materialization=mat, dataset=cave).connectors,
                                      cn)
    assert moved > 0  # the nearest node is not always the synapse's own chunk


def test_chunks_missing_from_the_skeleton_fall_back_to_nearest(tiny_path):
    """A0's own skeleton lacks chunk f1 of its successor A2: synapse 5 (on f1) goes to the nearest."""
    n = nc.get_l2_skeleton(A0, dataset=tiny_path)
    cn = nc.attach_synapses(n, dataset=tiny_path).connectors
    on_f1 = cn["synapse_id"].to_numpy(np.uint64) == synapse_id(5)
    assert on_f1.sum() == 1
    assert (cn["attached_by"][on_f1] == "nearest").all() and (cn["attached_by"][~on_f1] == "l2").all()
    assert cn["node_id"][on_f1].tolist() == _nearest(n.nodes, cn[on_f1]).tolist()


def test_skeleton_without_l2_ids_attaches_by_nearest(tiny_path):
    own = nc.get_l2_skeleton(A2, dataset=tiny_path)
    plain = navis.TreeNeuron(own.nodes.drop(columns="l2_id"), units="1 nm", id=int(A2))
    cn = nc.attach_synapses(plain, dataset=tiny_path).connectors
    assert len(cn) and (cn["attached_by"] == "nearest").all()
    assert cn["node_id"].tolist() == _nearest(plain.nodes, cn).tolist()
    by_l2 = nc.attach_synapses(own, dataset=tiny_path).connectors
    assert (by_l2["attached_by"] == "l2").all()
    assert by_l2["synapse_id"].tolist() == cn["synapse_id"].tolist()
