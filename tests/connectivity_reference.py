"""The general (any number of neurons) path of ``get_connectivity`` for one neuron, built with
pandas' public constructor: the oracle of the single-neuron fast path's tests."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from napari_crant.datasets import get_source
from napari_crant.materialization import resolve_materialization
from napari_crant.queries.connectivity import _many_roots_pairs
from napari_crant.queries.update import resolve_id_arrays

#: (upstream, downstream), clean, min_size, threshold
FLAGS = list(itertools.product([(True, True), (True, False), (False, True)], [True, False],
                               [None, 300], [1, 2, 4]))


def general_path(dataset, root: int, upstream: bool, downstream: bool, clean: bool,
                 min_size: float | None, threshold: int, materialization) -> pd.DataFrame:
    """What ``get_connectivity([root], ...)`` returns through the many-neuron path (no attrs)."""
    source = get_source(dataset)
    at = resolve_materialization(source, materialization)
    _, new, _ = resolve_id_arrays(source, np.array([root], np.uint64), at, update=True)
    (pre, post), weight = _many_roots_pairs(source, at, new, upstream, downstream, min_size, clean)
    heavy = weight >= threshold
    return pd.DataFrame({"pre": pre[heavy], "post": post[heavy], "weight": weight[heavy]})


def assert_same_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same columns in the same order, dtypes, index and every value."""
    assert list(got.columns) == ["pre", "post", "weight"]
    assert [str(d) for d in got.dtypes] == ["uint64", "uint64", "int64"]
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert isinstance(got.index, pd.RangeIndex)
