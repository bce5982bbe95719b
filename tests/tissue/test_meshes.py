"""get_mesh, get_neuropil_meshes, get_brain_mesh on the tiny demo: shapes that enclose their
skeletons, edits that show, neuropils and the brain, bad input, a dataset without meshes."""

from __future__ import annotations

import navis
import numpy as np
import pytest
from mesh_data import edited_root, enclosed, nodes_of_root
from tissue_data import snapshot

import napari_crant as nc
from napari_crant import InvalidArgumentError, InvalidIDError, TissueUnavailable, UnknownIDError
from napari_crant.sources.snapshot import SnapshotSource
from napari_crant.tissue.mesh_fragments import FragmentMesher


@pytest.fixture(scope="module")
def source():
    return SnapshotSource(snapshot())


@pytest.fixture(scope="module")
def edit(source):
    return edited_root(source)


def test_one_id_gives_a_mesh_neuron_that_encloses_its_skeleton(source, edit):
    root, _ = edit
    n = nc.get_mesh(str(root), dataset=snapshot())
    assert isinstance(n, navis.MeshNeuron)
    assert n.id == root and isinstance(n.id, int) and n.root_id == np.uint64(root)
    assert str(n.units) == "1 nanometer"
    assert n.provenance["dataset"] == source.name and n.provenance["materialization"] == "latest"
    nodes = nodes_of_root(source, root)
    assert len(nodes) > 50
    inside = enclosed(n.trimesh, nodes[["x", "y", "z"]].to_numpy(np.float64))
    assert inside.all(), f"{(~inside).sum()} skeleton nodes outside the mesh"
    # and the mesh is no bigger than the arbor: points far off the skeleton are outside
    far = nodes[["x", "y", "z"]].to_numpy(np.float64) + np.array([0.0, 0.0, 20_000.0])
    assert not enclosed(n.trimesh, far).any()


def test_a_root_is_its_l2_chunks_fragments(source, edit):
    root, _ = edit
    mesh = source.root_mesh(root, None)
    frags = source._meshes.mesher.fragments(source.l2_ids(root))
    assert set(frags) == {int(i) for i in source.l2_ids(root)}
    assert len(mesh.vertices) == sum(len(v) for v, _ in frags.values())
    # deterministic: a second source over the same snapshot makes the same arrays
    again = SnapshotSource(snapshot()).root_mesh(root, None)
    np.testing.assert_array_equal(mesh.vertices, again.vertices)
    np.testing.assert_array_equal(mesh.faces, again.faces)


def test_an_edit_shows_in_the_mesh(source, edit):
    root, old = edit
    now = nc.get_mesh([root], dataset=snapshot())
    then = nc.get_mesh([root], materialization=2, dataset=snapshot())
    assert isinstance(now, navis.NeuronList) and len(now) == 1
    assert now[0].id == root and then[0].id != root
    assert then[0].query_id == np.uint64(root)
    assert then[0].provenance["updated_ids"] == {root: then[0].id}
    np.testing.assert_array_equal(then[0].vertices, source.root_mesh(then[0].id, None).vertices)
    assert len(then[0].vertices) != len(now[0].vertices)
    # without update_ids the old root keeps its old shape, at any moment
    kept = nc.get_mesh(old, dataset=snapshot(), update_ids=False)
    assert kept.id == old
    np.testing.assert_array_equal(kept.vertices, source.root_mesh(old, None).vertices)


def test_names_carry_the_cell_type(source):
    ann = source.annotations()
    if "cell_type" not in ann:
        pytest.skip("the tiny demo has no cell types")
    typed = ann[ann["cell_type"].map(lambda v: isinstance(v, str) and bool(v))]
    rid, ct = int(typed["root_id"].iloc[0]), typed["cell_type"].iloc[0]
    n = nc.get_mesh(rid, dataset=snapshot(), update_ids=False)
    assert n.name == f"{ct} ({rid})"


def test_fragment_cache_is_bounded(source, edit):
    mesher = FragmentMesher(source.skeleton_nodes(), max_fragments=5)
    l2 = source.l2_ids(edit[0])
    assert len(l2) > 5
    first = mesher.fragments(l2)
    assert mesher.cached == 5
    again = mesher.fragments(l2)
    for k, (v, f) in first.items():
        np.testing.assert_array_equal(v, again[k][0])
        np.testing.assert_array_equal(f, again[k][1])


def test_neuropil_meshes_match_their_boxes(source):
    meshes = nc.get_neuropil_meshes(dataset=snapshot())
    boxes = source.neuropils().set_index("name")
    assert list(meshes) == list(boxes.index)
    for name, mesh in meshes.items():
        box = boxes.loc[name]
        lo, hi = box[["x0", "y0", "z0"]].to_numpy(float), box[["x1", "y1", "z1"]].to_numpy(float)
        assert mesh.is_watertight and mesh.volume > 0
        np.testing.assert_allclose(mesh.bounds, [lo, hi], atol=1e-6 * np.abs(hi).max())
        # an ellipsoid fills pi/6 of its box (the icosphere slightly less)
        assert 0.95 * np.pi / 6 < mesh.volume / np.prod(hi - lo) <= np.pi / 6
    some = list(boxes.index[:2])
    assert list(nc.get_neuropil_meshes(some, dataset=snapshot())) == some
    assert list(nc.get_neuropil_meshes(some[0], dataset=snapshot())) == some[:1]


def test_brain_encloses_neuropils_and_somata(source):
    brain = nc.get_brain_mesh(dataset=snapshot())
    assert brain.is_watertight and brain.volume > 0
    for mesh in nc.get_neuropil_meshes(dataset=snapshot()).values():
        assert enclosed(brain, mesh.vertices, tol_nm=1.0).all()
    nodes = source.skeleton_nodes()
    soma = nodes[nodes["compartment"].to_numpy() == 0]
    assert len(soma)
    pos = soma[["x", "y", "z"]].to_numpy(np.float64)
    r = soma["radius_nm"].to_numpy(np.float64)[:, None]
    for axis in np.eye(3):  # the soma's extent along each axis is inside too
        assert enclosed(brain, pos + r * axis).all() and enclosed(brain, pos - r * axis).all()


def test_unknown_neuropil_lists_the_known_ones():
    with pytest.raises(InvalidArgumentError, match=r"unknown neuropil\(s\) \['XYZ'\].*known: \[.*'AL_L'"):
        nc.get_neuropil_meshes(["AL_L", "XYZ"], dataset=snapshot())
    with pytest.raises(InvalidArgumentError, match="names must be"):
        nc.get_neuropil_meshes(42, dataset=snapshot())


def test_bad_ids():
    with pytest.raises(UnknownIDError, match="576460752303423999"):
        nc.get_mesh(576460752303423999, dataset=snapshot())
    with pytest.raises(InvalidIDError):
        nc.get_mesh("not-an-id", dataset=snapshot())
    with pytest.raises(InvalidArgumentError):
        nc.get_mesh(1, dataset=snapshot(), update_ids="yes")


def test_a_snapshot_without_skeleton_nodes_has_no_neuron_meshes(tiny_path):
    import tiny

    with pytest.raises(TissueUnavailable, match=r"no neuron meshes.*skeleton_nodes"):
        nc.get_mesh(int(tiny.B2), dataset=tiny_path)
    assert isinstance(TissueUnavailable("x"), ValueError)
    # its neuropil boxes still have surfaces
    assert len(nc.get_neuropil_meshes(dataset=tiny_path)) == len(SnapshotSource(tiny_path).neuropils())
