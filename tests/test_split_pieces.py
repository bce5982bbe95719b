"""Pieces of neurons split since their ID was copied; header handling of pasted IDs."""

from __future__ import annotations

import numpy as np
import pytest

import napari_crant as nc
from napari_crant.ids import parse_id_text
from napari_crant.queries.successors import split_pieces
from napari_crant.scene.loading import load_neurons, run_to_end, update_messages
from tiny import A0, A2, B0, B2, BASE, X


def test_split_pieces_of_a_split_neuron(tiny_path):
    p = split_pieces([B0, A2], dataset=tiny_path)
    assert p["piece_id"].dtype == np.uint64 and p["old_id"].dtype == np.uint64
    b = p[p["old_id"] == B0]
    # B0 (b1 b2 b3) -> B2 (b1, b2) + X (b3): largest first
    assert b["piece_id"].tolist() == [B2, X]
    assert b["n_l2"].tolist() == [2, 1]
    assert b["fraction"].round(3).tolist() == [0.667, 0.333]
    assert p.loc[p["old_id"] == A2, "piece_id"].tolist() == [A2]  # current: itself
    assert p.attrs["materialization"] == "latest" and "timestamp" in p.attrs


def test_split_pieces_before_the_split(tiny_path):
    p = split_pieces(B0, materialization=2, dataset=tiny_path)  # version 2 is before op 2
    assert p["piece_id"].tolist() == [B0]


def test_split_pieces_unknown_id(tiny_path):
    with pytest.raises(nc.InvalidIDError, match="123456789012345678"):
        split_pieces(123456789012345678, dataset=tiny_path)


def test_loading_a_split_neuron_names_the_other_pieces(tiny_path):
    res = run_to_end(load_neurons([B0, A0], dataset=tiny_path))
    assert res.updated == {int(B0): int(B2), int(A0): int(A2)}
    assert res.split == {int(B0): [int(X)]}  # A0 was merged, not split
    lines = update_messages(res.updated, res.split)
    assert lines[0] == f"{B0} was split since; showing the piece {B2}; 1 other piece: {X}"
    assert lines[1] == f"{A0} was edited; showing {A2} instead"


def test_a_lone_word_is_named_not_taken_for_a_header():
    with pytest.raises(nc.InvalidIDError, match="not neuron IDs: 'abc'"):
        parse_id_text("abc")
    with pytest.raises(nc.InvalidIDError, match="'root_id'"):
        parse_id_text("root_id 576460752700000001")  # not alone on its line
    assert parse_id_text("root_id\n576460752700000001").tolist() == [576460752700000001]
    assert parse_id_text(f"neuron_id\n{BASE + 1}\n{BASE + 2}").tolist() == [BASE + 1, BASE + 2]
