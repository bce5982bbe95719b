"""Every kind of bad input gives a clear error that names the offending value."""

from __future__ import annotations

import datetime as dt

import navis
import numpy as np
import pandas as pd
import pytest

import napari_crant as nc
from napari_crant.ids import parse_id_text, parse_ids
from tiny import A2, B2, BASE, UNKNOWN


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
    with pytest.raises(ValueError, match="min_size must be a finite number >= 0 or None, not 'big'"):
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


# -- materialization --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mat", "match"),
    [
        ("", "materialization '' is empty"),
        ("  ", "is empty"),
        ("NaT", "materialization 'NaT' is not .*ISO 8601"),
        (pd.NaT, "materialization NaT is not a moment"),
        (np.datetime64("NaT"), "is not a moment"),
        (dt.datetime(2300, 1, 1), "outside the supported range"),
        (pd.Timestamp("2300-01-01"), "outside the supported range"),
        (np.datetime64("2300-01-01"), "outside the supported range"),
        ("2300-01-01", "'2300-01-01' is outside the supported range"),
        ("0001-01-01", "outside the supported range"),
        ("March", "'March' is not .*ambiguous"),
        ("12/31", "'12/31' is not .*ambiguous"),
        ("1/2/3", "'1/2/3' is not .*ambiguous"),
        (np.bool_(True), "is not valid"),
        (2**70, f"version {2**70} does not exist"),
    ],
)
def test_materialization_is_refused_not_guessed(tiny_path, mat, match):
    with pytest.raises(nc.MaterializationError, match=match):
        nc.get_connectivity(A2, materialization=mat, dataset=tiny_path)


def test_update_ids_names_its_timestamp_parameter(tiny_path):
    with pytest.raises(nc.MaterializationError, match="timestamp '1/2/3'"):
        nc.update_ids(A2, timestamp="1/2/3", dataset=tiny_path)


@pytest.mark.parametrize(
    "mat",
    ["2025-06-15", "2025-06-15T00:00:00Z", "2025-06-15T02:00:00+02:00", dt.datetime(2025, 6, 15),
     pd.Timestamp("2025-06-15", tz="UTC"), np.datetime64("2025-06-15T00:00")],
)
def test_iso_and_datetimes_are_accepted(tiny_path, mat):
    cn = nc.get_connectivity(A2, materialization=mat, dataset=tiny_path)
    assert cn.attrs["timestamp"] == "2025-06-15T00:00:00+00:00"
    assert cn.attrs["materialization_version"] is None
    assert len(cn) > 0


def test_int_and_digit_text_are_versions(tiny_path):
    for mat in (3, np.int64(3), "3", " 3 "):
        assert nc.get_connectivity(A2, materialization=mat, dataset=tiny_path).attrs[
            "materialization_version"] == 3


# -- numbers and flags ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"min_size": float("nan")}, "min_size must be a finite number >= 0 or None, not nan"),
        ({"min_size": float("inf")}, "min_size .* not inf"),
        ({"min_size": -1}, "min_size .* not -1"),
        ({"min_size": True}, "min_size .* not True"),
        ({"threshold": 1.0}, "threshold must be an integer >= 1, not 1.0"),
        ({"threshold": np.bool_(True)}, "threshold must be an integer"),
        ({"clean": "False"}, "clean must be True or False, not 'False'"),
        ({"clean": 0}, "clean must be True or False, not 0"),
        ({"update_ids": None}, "update_ids must be True or False, not None"),
        ({"upstream": "yes"}, "upstream must be True or False"),
    ],
)
def test_bad_numbers_and_flags_are_refused(tiny_path, kw, match):
    with pytest.raises(nc.InvalidArgumentError, match=match):
        nc.get_connectivity(A2, dataset=tiny_path, **kw)


def test_flags_of_every_query_must_be_booleans(tiny_path):
    with pytest.raises(nc.InvalidArgumentError, match="return_pixels must be True or False"):
        nc.get_synapses(A2, return_pixels="no", dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match="split_positions must be True or False"):
        nc.get_synapses(A2, split_positions=1, dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match="symmetric must be True or False"):
        nc.get_adjacency(A2, A2, symmetric="True", dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match="clean must be True or False"):
        nc.get_synapse_counts(A2, clean="False", dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match="update_ids must be True or False"):
        nc.get_l2_skeleton(A2, update_ids="False", dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match="use_annotations must be True or False"):
        nc.update_ids(A2, use_annotations="no", dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match="regex must be True or False"):
        nc.NeuronCriteria(cell_type="PN", regex="False", dataset=tiny_path)


@pytest.mark.parametrize(
    ("max_distance", "match"),
    [(float("nan"), "not nan"), (-1, "not -1"), (float("inf"), "not inf"), ("far", "not 'far'"),
     (None, "not None")],
)
def test_attach_refuses_bad_max_distance(tiny_path, max_distance, match):
    sk = nc.get_l2_skeleton(A2, dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match=f"max_distance must be .*{match}"):
        nc.attach_synapses(sk, max_distance=max_distance, dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match="threshold must be an integer >= 1"):
        nc.attach_synapses(sk, threshold=0, dataset=tiny_path)
    with pytest.raises(nc.InvalidArgumentError, match="TreeNeuron"):
        nc.attach_synapses([sk], dataset=tiny_path)
    assert not hasattr(sk, "connectors") or sk.connectors is None


def test_attach_max_distance_zero_and_int_are_fine(tiny_path):
    sk = nc.get_l2_skeleton(A2, dataset=tiny_path)
    nc.attach_synapses(sk, max_distance=np.int64(10_000), dataset=tiny_path)
    assert len(sk.connectors) > 0
    nc.attach_synapses(sk, max_distance=0, dataset=tiny_path)
    assert (sk.connectors["distance"] == 0).all()


# -- collections of IDs -----------------------------------------------------------------------
@pytest.mark.parametrize("make", [set, frozenset, tuple, list, lambda ids: (i for i in ids),
                                  lambda ids: dict.fromkeys(ids), lambda ids: pd.Index(ids)])
def test_l2_skeleton_treats_every_collection_as_many(tiny_path, make):
    ids = [int(A2), int(B2)]
    nl = nc.get_l2_skeleton(make(ids), dataset=tiny_path)
    assert isinstance(nl, navis.NeuronList)
    assert sorted(int(n.id) for n in nl) == sorted(ids)
    one = nc.get_l2_skeleton(make([int(A2)]), dataset=tiny_path)
    assert isinstance(one, navis.NeuronList) and len(one) == 1


def test_l2_skeleton_of_one_id_is_a_neuron(tiny_path):
    for one in (int(A2), A2, str(A2)):
        assert isinstance(nc.get_l2_skeleton(one, dataset=tiny_path), navis.TreeNeuron)


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        (b"123", r"b'123' is bytes"),
        ([b"123"], r"neuron_ids\[0\]: b'123' is bytes"),
        (np.array(int(A2), dtype=object), "a 0-d array"),
        (np.array(int(A2), dtype=np.uint64), "a 0-d array"),
        (pd.Series([int(A2), None], dtype="UInt64"), r"neuron_ids\[1\]: a missing value \(NA\)"),
        (pd.array([int(A2), None], dtype="UInt64"), r"neuron_ids\[1\]: a missing value"),
        ([int(A2), pd.NA], r"neuron_ids\[1\]: a missing value"),
        ({}, "no IDs given"),
    ],
)
def test_more_bad_ids_are_named(tiny_path, ids, match):
    with pytest.raises(nc.InvalidIDError, match=match):
        nc.get_connectivity(ids, dataset=tiny_path)


def test_nullable_integer_series_without_na_are_ids(tiny_path):
    for dtype in ("UInt64", "Int64"):
        s = pd.Series([int(A2)], dtype=dtype)
        assert nc.get_connectivity(s, dataset=tiny_path).equals(nc.get_connectivity(A2, dataset=tiny_path))


# -- NeuronCriteria ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([], r"cell_type=\[\] is empty"),
        (np.array([], dtype=object), "is empty"),
        (float("nan"), "cell_type=nan is NaN"),
        ([float("nan")], "cell_type=nan is NaN"),
        (np.array("PN_DA1", dtype=object), "0-d array"),
        (b"PN_DA1", r"cell_type=b'PN_DA1' \(bytes\)"),
        ([b"PN_DA1"], "bytes; give text"),
        ({"PN_DA1": 1}, r"\(dict\) is not"),
        (1.5, "cell_type=1.5 is a float"),
    ],
)
def test_criteria_refuse_values_that_mean_nothing(tiny_path, value, match):
    with pytest.raises(nc.InvalidArgumentError, match=match):
        nc.NeuronCriteria(cell_type=value, dataset=tiny_path)
