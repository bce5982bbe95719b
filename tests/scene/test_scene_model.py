"""The legend's evented model and the canvas picking, without Qt."""

import numpy as np
import pytest

import tiny
from napari_crant.scene.colors import TYPE_COLORS, neuron_colors
from napari_crant.scene.layer_data import Scene
from napari_crant.scene.neuron_data import id_strings
from napari_crant.scene.picking import SkeletonPicker, neuron_text, synapse_text
from napari_crant.scene.scene_model import NeuronEntry, SceneModel

R1, R2, R3 = (int(tiny.BASE) + k for k in (11, 12, 13))


def _model():
    m = SceneModel()
    m.set_entries(NeuronEntry(r, (1.0, 0.0, 0.0, 1.0), t) for r, t in ((R1, "KC_g"), (R2, ""), (R3, "uPN")))
    return m


def test_visibility_and_solo():
    m = _model()
    events = []
    m.visibility_changed.connect(lambda: events.append("v"))
    rows = np.array([R1, R2, R3, R2, int(tiny.UNKNOWN)], np.uint64)
    assert m.shown_mask(rows).all()
    m.set_visible(R2, False)
    assert m.shown_mask(rows).tolist() == [True, False, True, False, True]
    m.toggle_solo(R3)
    assert m.shown_mask(rows).tolist() == [False, False, True, False, True]
    assert m.shown_roots().tolist() == [R3]
    m.toggle_solo(R3)  # again: back to the visible ones
    assert m.shown_roots().tolist() == [R1, R3]
    m.show_all()
    assert m.shown_roots().tolist() == [R1, R2, R3]
    assert events == ["v"] * 4
    with pytest.raises(KeyError, match=str(int(tiny.UNKNOWN))):
        m.set_visible(int(tiny.UNKNOWN), False)


def test_entries_keep_visibility_and_drop_stale_selection():
    m = _model()
    m.set_visible(R1, False)
    m.select(R3)
    selected = []
    m.selected_changed.connect(selected.append)
    m.set_entries([NeuronEntry(R1, (0, 0, 1, 1), "KC_g"), NeuronEntry(R2, (0, 1, 0, 1))])
    assert not m.entry(R1).visible and m.entry(R2).visible
    assert m.selected is None and selected == [None]
    m.select(R2)
    m.select(R2)  # no second event
    assert selected == [None, R2]


def test_picker_2d_and_3d():
    # two skeletons: R1 along x at y=0, R2 along x at y=10_000 nm (z, y, x)
    edges = np.array([[[0, 0, 0], [0, 0, 1000]], [[0, 10_000, 0], [0, 0, 1000]]], float)
    p = SkeletonPicker(edges, np.array([R1, R2], np.uint64))
    assert p.pick((500.0, 9_900.0, 1000.0), tolerance=200) == R2
    assert p.pick((500.0, 5_000.0, 1000.0), tolerance=200) is None
    assert p.pick((0.0, 9_900.0, 1000.0), tolerance=200, shown=np.array([R1], np.uint64)) is None
    # 3D: a ray along z through (y=0, x=1000) hits R1 whatever z the cursor is at
    assert p.pick((-50_000.0, 50.0, 1000.0), 200, (0, 1, 2), view_direction=(1.0, 0, 0)) == R1
    with pytest.raises(ValueError, match="2 edges but 1 root"):
        SkeletonPicker(edges, np.array([R1], np.uint64))


def test_hover_texts_name_ids_types_and_partner():
    types = {R1: "KC_g", R2: ""}
    row = {"root_id": str(R1), "partner_id": str(R2), "type": "pre", "synapse_id": "7"}
    text = synapse_text(row, lambda r: types.get(r, ""))
    assert text == f"presynapse 7: {R1} (KC_g) → partner {R2}"
    row = {"root_id": str(R2), "partner_id": "0", "type": "post", "synapse_id": "8"}
    assert synapse_text(row, lambda r: "") == f"postsynapse 8: {R2} ← partner unsegmented"
    assert neuron_text(R1, "KC_g") == f"{R1} (KC_g)"


def test_ids_colours_vectorised_and_exact():
    ids = np.array([2**64 - 1, int(tiny.A2)], np.uint64)
    assert id_strings(ids).tolist() == [str(2**64 - 1), str(int(tiny.A2))]
    c = neuron_colors(np.arange(40))
    assert c.shape == (40, 4) and len({tuple(x) for x in c.round(3)}) == 40
    assert np.all((c >= 0) & (c <= 1))
    assert TYPE_COLORS["pre"] != TYPE_COLORS["post"]


def test_scene_joins_worker_built_synapse_tables(tiny_loaded, tiny_path):
    from napari_crant.scene.neuron_data import synapse_table

    scene = Scene()
    scene.add(tiny_loaded)
    expected = synapse_table(tiny_loaded.neurons)
    assert scene.synapses().equals(expected)
    assert scene.synapses()["root_id"].dtype == np.uint64
    # replacing a neuron keeps one copy of its rows
    scene.add(tiny_loaded)
    assert len(scene.synapses()) == len(expected)
    scene.remove(int(tiny.B2))
    assert set(scene.synapses()["root_id"].tolist()) == {int(tiny.A2)}
    assert scene.cell_types([int(tiny.A2), int(tiny.UNKNOWN)])[1] == ""
