"""Property test over the public API: any input gives a correct result or napari-crant's own error.

Every parameter is drawn from a pool of valid spellings (each with its canonical form) and of
hostile values. With only valid values, the call must succeed and equal the call made with the
canonical values; with any hostile value, it must raise one of napari-crant's exceptions whose
message names one of the hostile parameters: never a pandas/numpy internal error and never a
silently empty or wrong result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import navis
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napari_crant as nc
from napari_crant.sources.snapshot import SnapshotError
from tiny import A2, B2, X

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

#: napari-crant's own exception types (all ValueErrors with messages naming the value).
OURS = (nc.InvalidIDError, nc.InvalidArgumentError, nc.MaterializationError, nc.DatasetError,
        nc.NoMatchError, SnapshotError)


@dataclass(frozen=True)
class Choice:
    """One drawn value: a factory (fresh generators per call), its canonical form, validity."""

    make: Any
    canonical: Any = None
    valid: bool = True

    def value(self) -> Any:
        return self.make()


def ok(value: Any, canonical: Any = "same") -> Choice:
    return Choice(lambda: value, value if isinstance(canonical, str) and canonical == "same" else canonical)


def okf(factory: Any, canonical: Any) -> Choice:
    return Choice(factory, canonical)


def bad(value: Any) -> Choice:
    return Choice(lambda: value, None, False)


def badf(factory: Any) -> Choice:
    return Choice(factory, None, False)


ROOTS = [int(A2), int(B2), int(X)]  # alive from 2025-05-01 on: at every valid moment below


def id_choices(ids: list[int]) -> list[Choice]:
    one = ids[0]
    return [
        ok(one, [one]), ok(str(one), [one]), ok(np.uint64(one), [one]), ok(np.int64(one), [one]),
        ok(list(ids), ids), ok(tuple(ids), ids), okf(lambda: set(ids), ids),
        okf(lambda: (i for i in ids), ids), okf(lambda: dict.fromkeys(ids), ids),
        ok(np.array(ids, np.uint64), ids), ok(pd.Series(ids, dtype=np.uint64), ids),
        ok(pd.Series(ids, dtype="UInt64"), ids), ok([str(i) for i in ids], ids),
        bad(float(one)), bad([one, 1.5]), bad(-1), bad([one, None]), bad(b"123"),
        bad(np.array(one, dtype=object)), bad(pd.Series([one, None], dtype="UInt64")),
        bad("abc"), bad([]), bad(2**64), bad(True), bad([[one]]), bad({"a": 1}),
        bad(float("nan")), bad(pd.NaT), bad(np.array([1.0, 2.0])), bad(object()),
    ]


def id_sets() -> st.SearchStrategy[list[int]]:
    return st.lists(st.sampled_from(ROOTS), min_size=1, max_size=3, unique=True)


MATERIALIZATIONS = [
    ok("latest"), ok("live"), ok(3), ok("3", 3), ok(np.int64(3), 3), ok(" latest ", "latest"),
    ok("2025-06-15", "2025-06-15T00:00:00+00:00"),
    ok("2025-06-15T02:00:00+02:00", "2025-06-15T00:00:00+00:00"),
    ok(dt.datetime(2025, 6, 15), "2025-06-15T00:00:00+00:00"),
    ok(np.datetime64("2025-06-15T00:00"), "2025-06-15T00:00:00+00:00"),
    ok(pd.Timestamp("2025-06-15", tz="UTC"), "2025-06-15T00:00:00+00:00"),
    bad(""), bad("NaT"), bad(pd.NaT), bad(np.datetime64("NaT")), bad("1/2/3"), bad("March"),
    bad("12/31"), bad(dt.datetime(2300, 1, 1)), bad(pd.Timestamp("2300-01-01")), bad(7), bad(1),
    bad(-3), bad(2**70), bad(3.5), bad(float("nan")), bad(True), bad(None), bad(b"3"), bad([3]),
]
THRESHOLDS = [ok(1), ok(2), ok(np.int64(2), 2), bad(0), bad(-1), bad(1.5), bad(float("nan")),
              bad(True), bad("2"), bad(None)]
MIN_SIZES = [ok(None), ok(0), ok(50), ok(50.0, 50), ok(np.float32(50), 50), bad(float("nan")),
             bad(float("inf")), bad(-1), bad("big"), bad(True), bad([50])]
FLAGS = [ok(True), ok(False), ok(np.True_, True), bad("False"), bad("True"), bad(0), bad(1),
         bad(None)]
DISTANCES = [ok(0), ok(10_000), ok(np.int64(5000), 5000), ok(2500.5), bad(float("nan")), bad(-1),
             bad(float("inf")), bad(None), bad("far")]


def draw(data: st.DataObject, pool: list[Choice]) -> Choice:
    """A valid choice 4 times in 5, so that most examples have at most one hostile value."""
    valid = [c for c in pool if c.valid]
    invalid = [c for c in pool if not c.valid]
    hostile = bool(invalid) and data.draw(st.integers(0, 4)) == 0
    return data.draw(st.sampled_from(invalid if hostile else valid))


def check(call: Any, choices: dict[str, Choice], compare: Any, extra_bad: tuple[str, ...] = ()) -> None:
    """Run ``call`` with drawn values; compare with the canonical call or expect our error."""
    values = {k: c.value() for k, c in choices.items()}
    invalid = [k for k, c in choices.items() if not c.valid] + list(extra_bad)
    if invalid:
        with pytest.raises(OURS) as e:
            result = call(**values)
            pytest.fail(f"invalid {invalid} gave a result instead of an error: {result!r:.200}")
        message = str(e.value)
        assert any(name in message for name in invalid), (invalid, message)
        return
    canonical = {k: c.canonical for k, c in choices.items()}
    compare(call(**values), call(**canonical))


def frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b)


@given(data=st.data())
@SETTINGS
def test_get_connectivity_and_counts(tiny_path, data):
    ids = data.draw(id_sets())
    choices = {
        "neuron_ids": draw(data, id_choices(ids)), "threshold": draw(data, THRESHOLDS),
        "min_size": draw(data, MIN_SIZES), "materialization": draw(data, MATERIALIZATIONS),
        "clean": draw(data, FLAGS), "update_ids": draw(data, FLAGS),
    }

    def same_counts(a: pd.DataFrame, b: pd.DataFrame) -> None:  # rows in input order; a set has none
        frames_equal(a.sort_index(), b.sort_index())

    check(lambda **kw: nc.get_synapse_counts(dataset=tiny_path, **kw), choices, same_counts)
    datasets = [ok(tiny_path), ok(Path(tiny_path), tiny_path), bad(""), bad("nope"), bad(123),
                bad(b"tiny"), bad(str(Path(tiny_path) / "manifest.json"))]
    choices.update(upstream=draw(data, FLAGS), downstream=draw(data, FLAGS),
                   dataset=draw(data, datasets))
    both_off = all(choices[k].valid and not choices[k].canonical for k in ("upstream", "downstream"))
    check(nc.get_connectivity, choices, frames_equal, ("upstream",) if both_off else ())


@given(data=st.data())
@SETTINGS
def test_get_synapses_and_adjacency(tiny_path, data):
    pre, post = data.draw(id_sets()), data.draw(id_sets())
    none = ok(None)
    choices = {
        "pre_ids": draw(data, [*id_choices(pre), none]), "post_ids": draw(data, [*id_choices(post), none]),
        "threshold": draw(data, THRESHOLDS), "min_size": draw(data, MIN_SIZES),
        "materialization": draw(data, MATERIALIZATIONS), "clean": draw(data, FLAGS),
        "update_ids": draw(data, FLAGS),
    }
    no_ids = choices["pre_ids"] is none and choices["post_ids"] is none
    extra = ("pre_ids",) if no_ids else ()
    check(lambda **kw: nc.get_adjacency(dataset=tiny_path, **kw),
          {**choices, "symmetric": draw(data, FLAGS)}, frames_equal, extra)
    choices.update(return_pixels=draw(data, FLAGS), split_positions=draw(data, FLAGS))
    check(lambda **kw: nc.get_synapses(dataset=tiny_path, **kw), choices, frames_equal, extra)


def _skeleton_nodes(result: Any) -> list[pd.DataFrame]:
    return [result.nodes] if isinstance(result, navis.TreeNeuron) else [n.nodes for n in result]


@given(data=st.data())
@settings(SETTINGS, max_examples=30)
def test_get_l2_skeleton_and_attach(tiny_path, data):
    ids = data.draw(id_sets())
    choices = {"root_ids": draw(data, id_choices(ids)), "update_ids": draw(data, FLAGS),
               "materialization": draw(data, MATERIALIZATIONS)}

    def same_skeletons(a: Any, b: Any) -> None:
        one = isinstance(choices["root_ids"].value(), int | str | np.integer)
        assert isinstance(a, navis.TreeNeuron) == one
        na, nb = _skeleton_nodes(a), _skeleton_nodes(b)
        assert sorted(len(n) for n in na) == sorted(len(n) for n in nb)

    check(lambda **kw: nc.get_l2_skeleton(dataset=tiny_path, **kw), choices, same_skeletons)

    skeleton = nc.get_l2_skeleton(ids, dataset=tiny_path)
    attach = {
        "pre": draw(data, FLAGS), "post": draw(data, FLAGS), "threshold": draw(data, THRESHOLDS),
        "min_size": draw(data, MIN_SIZES), "materialization": draw(data, MATERIALIZATIONS),
        "clean": draw(data, FLAGS), "max_distance": draw(data, DISTANCES),
        "update_ids": draw(data, FLAGS),
    }
    both_off = all(attach[k].valid and not attach[k].canonical for k in ("pre", "post"))

    def connectors(a: Any, b: Any) -> None:
        for x, y in zip(a, b, strict=True):
            frames_equal(x.connectors, y.connectors)

    def run(**kw: Any) -> Any:
        return [n.copy() for n in nc.attach_synapses(skeleton.copy(), dataset=tiny_path, **kw)]

    check(run, attach, connectors, ("pre",) if both_off else ())


@given(data=st.data())
@SETTINGS
def test_update_ids_and_annotations(tiny_path, data):
    ids = data.draw(id_sets())
    choices = {"ids": draw(data, id_choices(ids)), "timestamp": draw(data, MATERIALIZATIONS),
               "use_annotations": draw(data, FLAGS)}

    def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:  # a set has no input order
        frames_equal(a.sort_values("old_id", ignore_index=True), b.sort_values("old_id", ignore_index=True))

    check(lambda **kw: nc.update_ids(dataset=tiny_path, **kw), choices, same_rows)
    check(lambda **kw: nc.get_annotations(dataset=tiny_path, **kw),
          {"neurons": draw(data, id_choices(ids))}, frames_equal)


CELL_TYPES = [
    ok("PN_DA1"), ok("pn_da1", "PN_DA1"), ok(["PN_DA1", "KC_g"]), ok(("PN_DA1",), "PN_DA1"),
    ok(np.array(["PN_DA1", "KC_g"]), ["PN_DA1", "KC_g"]), ok(pd.Series(["KC_g"]), "KC_g"),
    bad([]), bad(float("nan")), bad(np.array("PN_DA1", dtype=object)), bad(b"PN_DA1"),
    bad([b"PN_DA1"]), bad({"PN_DA1": 1}), bad(1.5), bad(object()), bad(np.array([[1]])),
]


@given(data=st.data())
@SETTINGS
def test_neuron_criteria(tiny_path, data):
    choices = {"cell_type": draw(data, CELL_TYPES), "regex": draw(data, FLAGS),
               "case": draw(data, [ok(False), bad("False"), bad(None)]),
               "exact": draw(data, FLAGS), "match_all": draw(data, FLAGS)}

    def count(**kw: Any) -> int:
        return nc.NeuronCriteria(dataset=tiny_path, **kw).count()

    def equal(a: int, b: int) -> None:
        assert a == b

    check(count, choices, equal)
