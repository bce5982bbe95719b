"""Every kind of bad input gives a clear error that names the offending value."""

from __future__ import annotations

import numpy as np
import pytest

import napari_crant as nc
from napari_crant.ids import parse_id_text, parse_ids
from tiny import A2, BASE, UNKNOWN


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ("abc", "'abc' is not a numeric"),
        ([str(A2), "12x"], r"neuron_ids\[1\]: '12x'"),
        (-5, "-5 is negative"),
        ([int(A2), -1], "-1 is negative"),
        (5.76e17, "float"),
        ([int(A2), 1.5], "float"),
        (np.array([1.0, 2.0]), "float"),
        (None, "None"),
        ([True], "boolean"),
        ([], "no IDs given"),
        ({"a": 1}.items(), r"\('a', 1\)"),
        (2**64, "does not fit in uint64"),
    ],
)
def test_bad_ids_are_named(tiny_path, ids, match):
    with pytest.raises(nc.InvalidIDError, match=match):
        nc.get_connectivity(ids, dataset=tiny_path)


def test_unknown_ids_are_reported_not_dropped(tiny_path):
    with pytest.raises(nc.UnknownIDError, match=str(UNKNOWN)) as e:
        nc.get_connectivity([A2, UNKNOWN], dataset=tiny_path)
    assert "1 ID(s) not in dataset 'tiny'" in str(e.value)
    with pytest.raises(nc.UnknownIDError, match=str(UNKNOWN)):
        nc.get_synapse_counts([UNKNOWN], dataset=tiny_path)
    with pytest.raises(nc.UnknownIDError, match=str(UNKNOWN)):
        nc.get_l2_skeleton(UNKNOWN, dataset=tiny_path)


def test_unknown_dataset(tmp_path):
    with pytest.raises(nc.DatasetError, match="unknown dataset 'nope'"):
        nc.get_connectivity(A2, dataset="nope")
    with pytest.raises(nc.DatasetError, match="unknown dataset"):
        nc.set_default_dataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a snapshot directory"):
        nc.get_connectivity(A2, dataset=str(tmp_path / "empty"))


@pytest.mark.parametrize(
    ("mat", "match"),
    [
        (7, "version 7 does not exist.*valid versions: 2, 3"),
        (1, "version 1 .* has expired"),
        ("yesterday-ish", "not 'latest', 'live'"),
        (3.5, "not 'latest', 'live'"),
        (True, "not valid"),
    ],
)
def test_bad_materialization(tiny_path, mat, match):
    with pytest.raises(nc.MaterializationError, match=match):
        nc.get_connectivity(A2, materialization=mat, dataset=tiny_path)


def test_bad_flags(tiny_path):
    with pytest.raises(ValueError, match="upstream and downstream cannot both be False"):
        nc.get_connectivity(A2, upstream=False, downstream=False, dataset=tiny_path)
    with pytest.raises(ValueError, match="needs pre_ids, post_ids or both"):
        nc.get_synapses(dataset=tiny_path)
    with pytest.raises(ValueError, match="needs pre_ids, post_ids or both"):
        nc.get_adjacency(dataset=tiny_path)
    with pytest.raises(ValueError, match="threshold must be an integer >= 1, not 0"):
        nc.get_connectivity(A2, threshold=0, dataset=tiny_path)
    with pytest.raises(ValueError, match="min_size must be a number >= 0 or None, not 'big'"):
        nc.get_connectivity(A2, min_size="big", dataset=tiny_path)
    with pytest.raises(ValueError, match="supervoxels has 2 values but ids has 1"):
        nc.update_ids([A2], supervoxels=[1, 2], dataset=tiny_path)


def test_bad_criteria(tiny_path):
    with pytest.raises(ValueError, match="unknown field 'cel_type'; did you mean 'cell_type'"):
        nc.NeuronCriteria(cel_type="PN", dataset=tiny_path)
    with pytest.raises(nc.NoMatchError, match="no neurons match"):
        nc.get_connectivity(nc.NeuronCriteria(cell_type="nothing", dataset=tiny_path), dataset=tiny_path)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        nc.NeuronCriteria(cell_type="(", regex=True, dataset=tiny_path)
    with pytest.raises(ValueError, match="at least one"):
        nc.NeuronCriteria(dataset=tiny_path)


def test_numpy_ints_and_strings_are_accepted():
    ids = parse_ids([np.int64(5), np.uint64(A2), " 7 ", str(A2)])
    assert ids.dtype == np.uint64 and ids.tolist() == [5, A2, 7, A2]


def test_parse_pasted_text():
    text = f"root_id\n{A2}\n{BASE + 2}\r\n{BASE + 3}, {BASE + 4};{BASE + 5}\t{BASE + 6}  '{BASE + 7}'"
    assert parse_id_text(text).tolist() == [int(A2)] + [BASE + k for k in range(2, 8)]
    with pytest.raises(nc.InvalidIDError, match="'12a'"):
        parse_id_text(f"{A2} 12a")
    assert parse_id_text("  ").tolist() == []
