"""The tiny_scene's napari layer data (``napari_crant.scene.layer_data``) on the tiny dataset."""

import numpy as np
import pandas as pd
import pytest

import napari_crant as nc
import tiny
from napari_crant.scene.colors import TYPE_COLORS, id_colors, neuron_color
from napari_crant.scene.layer_data import Scene
from napari_crant.scene.loading import load_neurons, run_to_end
from napari_crant.scene.neuron_data import skeleton_vectors


def test_skeleton_vectors_are_parent_child_edges():
    nodes = pd.DataFrame({
        "node_id": [0, 1, 2, 3], "parent_id": [-1, 0, 1, 1],
        "x": [0.0, 10.0, 20.0, 10.0], "y": [0.0, 0.0, 0.0, 5.0], "z": [1.0, 1.0, 1.0, 2.0],
    })
    v = skeleton_vectors(nodes)
    assert v.shape == (3, 2, 3)
    np.testing.assert_array_equal(v[0], [[1, 0, 0], [0, 0, 10]])  # (z, y, x) start, direction
    np.testing.assert_array_equal(v[2, 0] + v[2, 1], [2, 5, 10])  # ends at the child


def test_synapse_layers_match_attach_synapses(tiny_scene, tiny_path):
    n = nc.get_l2_skeleton([int(tiny.A2), int(tiny.B2)], dataset=tiny_path)
    nc.attach_synapses(n, dataset=tiny_path)
    cn = pd.concat([x.connectors.assign(root=str(x.id)) for x in n])
    for kind in ("pre", "post"):
        data, kw, ltype = tiny_scene.synapse_layer(kind)
        assert ltype == "points"
        exp = cn[cn["type"] == kind].sort_values(["root", "synapse_id"])
        got = kw["features"].assign(z=data[:, 0], y=data[:, 1], x=data[:, 2]).sort_values(
            ["root_id", "synapse_id"])
        assert list(got["synapse_id"]) == [str(s) for s in exp["synapse_id"]]
        assert list(got["partner_id"]) == [str(s) for s in exp["partner_id"]]
        np.testing.assert_allclose(got[["x", "y", "z"]].to_numpy(), exp[["x", "y", "z"]].to_numpy())
        np.testing.assert_allclose(got["distance"], exp["distance"])
        assert kw["units"] == "nm" and kw["scale"] == (1.0, 1.0, 1.0)
        assert kw["axis_labels"] == ("z", "y", "x")


def test_ids_are_exact_strings(tiny_scene):
    _data, kw, _ = tiny_scene.skeleton_layer()
    assert set(kw["features"]["root_id"]) == {str(tiny.A2), str(tiny.B2)}
    _, kw, _ = tiny_scene.synapse_layer("pre")
    for col in ("root_id", "synapse_id", "partner_id"):
        assert kw["features"][col].dtype == object
        assert all(isinstance(v, str) for v in kw["features"][col])
    assert int(tiny.A2) > 2**53 and str(tiny.A2) in set(kw["features"]["root_id"])


def test_one_colour_per_neuron_and_colour_modes(tiny_scene):
    _data, kw, _ = tiny_scene.skeleton_layer()
    roots = kw["features"]["root_id"].to_numpy()
    colors = kw["edge_color"]
    for r in set(roots):
        assert len(np.unique(colors[roots == r], axis=0)) == 1
    assert not np.allclose(colors[roots == str(tiny.A2)][0], colors[roots == str(tiny.B2)][0])
    syn = tiny_scene.synapses("pre")
    by_type = tiny_scene.synapse_colors(syn, "type")
    assert np.allclose(by_type, TYPE_COLORS["pre"])
    by_partner = tiny_scene.synapse_colors(syn, "partner")
    same = syn["partner_id"].to_numpy() == syn["partner_id"].to_numpy()[0]
    assert len(np.unique(by_partner[same], axis=0)) == 1
    by_neuron = tiny_scene.synapse_colors(syn, "neuron")
    assert np.allclose(by_neuron[syn["root_id"].to_numpy() == tiny.A2][0], neuron_color(0))
    with pytest.raises(ValueError, match="color_by"):
        tiny_scene.synapse_colors(syn, "rainbow")


def test_somata(tiny_scene):
    data, kw, _ = tiny_scene.soma_layer()
    assert list(kw["features"]["root_id"]) == [str(tiny.A2), str(tiny.B2)]
    np.testing.assert_allclose(data[0], [4200, 10000, 10000])  # (z, y, x) of a1


def test_adding_more_neurons_and_reloading(tiny_scene, tiny_path):
    n_edges = len(tiny_scene.skeleton_layer()[0])
    more = run_to_end(load_neurons([int(tiny.X)], dataset=tiny_path))
    tiny_scene.add(more)
    assert list(tiny_scene.neurons) == [int(tiny.A2), int(tiny.B2), int(tiny.X)]
    assert len(tiny_scene.skeleton_layer()[0]) == n_edges  # X is a single node: no edges
    again = run_to_end(load_neurons([int(tiny.A2)], dataset=tiny_path))
    tiny_scene.add(again)  # replaces, does not duplicate
    assert len(tiny_scene.neurons) == 3
    assert len(tiny_scene.skeleton_layer()[0]) == n_edges
    a2_rows = tiny_scene.partners[tiny_scene.partners["neuron_id"].to_numpy(np.uint64) == tiny.A2]
    assert len(a2_rows) == len(again.partners[again.partners["neuron_id"].to_numpy(np.uint64) == tiny.A2])


def test_highlight_and_synapses_between(tiny_scene):
    ids = tiny_scene.synapses_between(int(tiny.A2), int(tiny.B2))
    np.testing.assert_array_equal(ids, [tiny.synapse_id(k) for k in (1, 2, 3, 5)])
    data, kw, _ = tiny_scene.highlight_layer(ids)
    assert set(kw["features"]["synapse_id"]) == {str(tiny.synapse_id(k)) for k in (1, 2, 3, 5)}
    assert len(data) == 8  # both ends of each synapse are loaded (A2 pre, B2 post)
    rows = tiny_scene.partners[(tiny_scene.partners["direction"] == "upstream")
                          & (tiny_scene.partners["neuron_id"].to_numpy(np.uint64) == tiny.A2)]
    got = tiny_scene.synapses_with_partners(rows)
    assert tiny.synapse_id(12) in got and tiny.synapse_id(11) in got  # B2 -> A2, D0 -> A2


def test_id_colors_stable_and_distinct():
    a = id_colors([tiny.A2, tiny.B2, tiny.A2])
    assert np.allclose(a[0], a[2]) and not np.allclose(a[0], a[1])
    assert a.shape == (3, 4)


def test_empty_scene_layers():
    s = Scene()
    for data, kw, _ in s.layers():
        assert len(data) == 0 and len(kw["features"]) == 0


def test_cell_types_follow_the_annotations_and_the_first_row_wins():
    """The cell-type lookup is kept between calls (a QC step labels a partner each time) and
    rebuilt when the scene's annotations are replaced; uint64 IDs above 2**53 stay exact."""
    a, b, c = np.array([576460752700000001, 576460752700000002, 576460752700000003], np.uint64)
    scene = Scene()
    assert scene.cell_types([a]) == [""] and scene.label_of(int(a)) == str(int(a))
    scene.annotations = pd.DataFrame({"root_id": np.array([b, a, a], np.uint64),
                                      "cell_type": ["KC_g", "uPN", "ORN"], "side": ["l", "r", "r"]})
    assert scene.cell_types([a, b, c]) == ["uPN", "KC_g", ""]  # a: its first row; c: none
    assert scene.label_of(int(a)) == "uPN" and scene.label_of(int(c)) == str(int(c))
    scene.annotations = pd.DataFrame({"root_id": np.array([c], np.uint64), "cell_type": [None]})
    assert scene.cell_types([a, c]) == ["", ""]
    scene.annotations = pd.DataFrame({"root_id": np.array([c], np.uint64), "cell_type": ["LHN"]})
    assert scene.cell_types([c]) == ["LHN"] and scene.cell_types(np.array([], np.uint64)) == []
