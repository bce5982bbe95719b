"""``format_positions`` (built once from arrays) gives exactly what the frame-editing version gave.

The reference below is the implementation it replaced (copy the frame, then per point: select
three columns, divide, assign or drop and append a column of ``[x, y, z]`` arrays). Both run on
the synapse frames of real sources (the tiny snapshot, a 60-neuron demo, and the same demo
through the local CAVE server) for every flag combination, and ``get_synapses`` end to end is
checked against the reference on the same rows.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from cave_helpers import cave_source

import napari_crant as nc
from napari_crant.materialization import resolve_materialization
from napari_crant.queries.common import filter_synapses
from napari_crant.queries.synapses import POSITION_PREFIXES, format_positions
from napari_crant.sources.snapshot import SnapshotSource

FLAGS = list(itertools.product([True, False], repeat=2))  # (return_pixels, split_positions)


def reference_format_positions(syn: pd.DataFrame, resolution: np.ndarray, return_pixels: bool,
                               split_positions: bool) -> pd.DataFrame:
    """The previous implementation, kept as the oracle."""
    syn = syn.copy()
    for prefix in POSITION_PREFIXES:
        cols = [f"{prefix}_{a}" for a in "xyz"]
        xyz = syn[cols].to_numpy(dtype=np.float64)
        if return_pixels:
            xyz = xyz / resolution
        if split_positions:
            syn[cols] = xyz
        else:
            syn = syn.drop(columns=cols)
            syn[prefix] = list(xyz) if len(xyz) else pd.Series([], dtype=object)
    return syn


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same columns in the same order, dtypes, index and values; point cells are float64 [x, y, z]
    arrays equal bit for bit."""
    assert list(got.columns) == list(want.columns)
    assert got.index.equals(want.index)
    assert list(got.dtypes) == list(want.dtypes)
    for name in want.columns:
        if name in POSITION_PREFIXES:
            for a, b in zip(got[name], want[name], strict=True):
                assert isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == (3,)
                np.testing.assert_array_equal(a, b, strict=True)
        else:
            np.testing.assert_array_equal(got[name].to_numpy(), want[name].to_numpy(), strict=True)


def _roots(path: str, n: int) -> np.ndarray:
    """``n`` roots alive at the newest version with the most synapses (18-digit IDs)."""
    snap = SnapshotSource(path)
    counts = snap.sql("SELECT pre_pt_root_id AS r, count(*) AS n FROM synapses GROUP BY r ORDER BY n DESC, r")
    return counts["r"].to_numpy(np.uint64)[:n]


@pytest.fixture(scope="module", params=["tiny", "demo", "demo over CAVE"])
def source_and_roots(request, tiny_path, demo_path):
    if request.param == "tiny":
        return SnapshotSource(tiny_path), _roots(tiny_path, 3)
    if request.param == "demo":
        return SnapshotSource(demo_path), _roots(demo_path, 4)
    return cave_source(request.getfixturevalue("demo_server")), _roots(demo_path, 4)


@pytest.mark.parametrize(("return_pixels", "split_positions"), FLAGS)
def test_format_positions_matches_reference(source_and_roots, return_pixels, split_positions):
    source, roots = source_and_roots
    assert roots.dtype == np.uint64 and int(roots.max()) > 10**17
    at = resolve_materialization(source, "latest")
    raw = filter_synapses(source.synapses(roots, None, at), 1, None, True)
    assert len(raw) > 0
    before = raw.copy()
    res = source.voxel_resolution
    got = format_positions(raw, res, return_pixels, split_positions)
    assert_same(got, reference_format_positions(raw, res, return_pixels, split_positions))
    pd.testing.assert_frame_equal(raw, before)  # the input frame is not changed
    # the result owns its data: changing it leaves the input alone
    got.loc[0, "size"] = -1
    pd.testing.assert_frame_equal(raw, before)
    empty = raw.iloc[:0]
    assert_same(format_positions(empty, res, return_pixels, split_positions),
                reference_format_positions(empty, res, return_pixels, split_positions))


@pytest.mark.parametrize(("return_pixels", "split_positions"), FLAGS)
def test_get_synapses_matches_reference(source_and_roots, return_pixels, split_positions):
    source, roots = source_and_roots
    at = resolve_materialization(source, "latest")
    for pre, post in ((roots[:2], None), (None, roots[1:3]), (roots, roots)):
        got = nc.get_synapses(pre, post, return_pixels=return_pixels, split_positions=split_positions,
                              dataset=source)
        raw = filter_synapses(source.synapses(pre, post, at), 1, None, True)
        assert_same(got, reference_format_positions(raw, source.voxel_resolution, return_pixels,
                                                    split_positions))
