"""The adjacency dock's matrix logic without Qt: ordering, clustering, type sums, colours, export."""

import itertools
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import napari_crant as nc
import tiny
from napari_crant import adjacency_view as av
from napari_crant.export_formats import ExportError, export_kind, read_table
from napari_crant.queries.common import open_query
from napari_crant.scene.loading import current_annotations

BASE = np.uint64(720_575_940_600_000_000)  # 18 digits, > 2**59: breaks if anything goes via float


def _matrix(values, ids=None):
    values = np.asarray(values, np.int64)
    ids = np.asarray(ids if ids is not None else BASE + np.arange(len(values), dtype=np.uint64), np.uint64)
    adj = pd.DataFrame(values, index=pd.Index(ids, name="pre"), columns=pd.Index(ids, name="post"))
    adj.attrs = {"dataset": "synthetic", "materialization_version": 7, "filters": {"threshold": 2}}
    return adj


def _annotations(ids, types):
    return pd.DataFrame({"root_id": np.asarray(ids, np.uint64), "cell_type": types})


@pytest.fixture
def two_blocks():
    """12 neurons in two communities (a, b), interleaved by ID, with 3 types and one untyped."""
    rng = np.random.default_rng(3)
    n = 12
    group = np.arange(n) % 2
    values = np.where(group[:, None] == group[None, :], rng.integers(5, 20, (n, n)), 0)
    np.fill_diagonal(values, 0)
    adj = _matrix(values)
    types = ["KC_g", "PN", "KC_ab", "PN", "KC_g", None, "KC_ab", "PN", "KC_g", "PN", "KC_ab", "PN"]
    return adj, _annotations(adj.index, types), group


def test_cell_types_and_short_labels(two_blocks):
    adj, ann, _ = two_blocks
    types = av.cell_types(adj.index, ann)
    assert types[0] == "KC_g" and types[5] == av.NO_TYPE
    assert av.short_label(int(BASE) + 5, av.NO_TYPE) == "…000005"
    assert av.short_label(int(BASE) + 2, "KC_ab") == "KC_ab …000002"


def test_cell_type_order_keeps_rows_and_columns_together(two_blocks):
    adj, ann, _ = two_blocks
    m = av.order_adjacency(adj, ann, "cell type")
    assert m.index.dtype == np.uint64 and list(m.index) == list(m.columns)
    types = list(av.cell_types(m.index, ann))
    assert types == [*sorted(types[:-1]), av.NO_TYPE]  # by type, untyped last
    # same matrix, only permuted: every (pre, post) count is unchanged
    pd.testing.assert_frame_equal(m.loc[adj.index, adj.columns], adj, check_names=False)
    assert m.attrs["materialization_version"] == 7


def test_loaded_and_id_orders(two_blocks):
    adj, ann, _ = two_blocks
    loaded = adj.index.to_numpy(np.uint64)[::-1]
    assert list(av.order_adjacency(adj, ann, "loaded order", loaded).index) == list(loaded)
    shuffled = adj.iloc[::-1, ::-1]
    assert list(av.order_adjacency(shuffled, ann, "root ID").index) == sorted(adj.index)
    with pytest.raises(ValueError, match="order must be one of"):
        av.order_adjacency(adj, ann, "alphabet")


def test_clustering_puts_each_community_together(two_blocks):
    adj, ann, group = two_blocks
    m = av.order_adjacency(adj, ann, "clustering")
    pos = {int(r): k for k, r in enumerate(adj.index)}
    ordered_groups = [group[pos[int(r)]] for r in m.index]
    # one switch between the two communities (interleaved by ID before)
    assert sum(a != b for a, b in itertools.pairwise(ordered_groups)) == 1
    assert list(m.index) == list(m.columns)


def test_cluster_order_handles_empty_rows_and_tiny_inputs():
    x = np.array([[0, 0, 0], [1, 0, 0], [0, 0, 0], [2, 0, 0], [0, 3, 3]], float)
    order = list(av.cluster_order(x))
    assert sorted(order) == list(range(5))
    zero_pos = sorted(order.index(k) for k in (0, 2))
    assert zero_pos[1] - zero_pos[0] == 1  # the empty rows side by side
    assert list(av.cluster_order(np.zeros((2, 4)))) == [0, 1]
    assert list(av.cluster_order(np.zeros((0, 4)))) == []


def test_non_square_matrix_orders_each_axis():
    pre = BASE + np.array([5, 1, 3], np.uint64)
    post = BASE + np.array([9, 2], np.uint64)
    adj = pd.DataFrame([[1, 2], [3, 4], [5, 6]], index=pd.Index(pre, name="pre"),
                       columns=pd.Index(post, name="post"))
    m = av.order_adjacency(adj, _annotations([], []), "root ID")
    assert list(m.index) == sorted(pre) and list(m.columns) == sorted(post)
    assert m.loc[pre[0], post[0]] == 1


def test_type_aggregation_sums_every_pair(two_blocks):
    adj, ann, _ = two_blocks
    agg = av.aggregate_by_type(adj, ann)
    assert list(agg.index) == ["KC_ab", "KC_g", "PN", av.NO_TYPE] == list(agg.columns)
    assert int(agg.to_numpy().sum()) == int(adj.to_numpy().sum())
    types = av.cell_types(adj.index, ann)
    v = adj.to_numpy()
    expected = int(v[np.ix_(types == "PN", types == "KC_g")].sum())
    assert int(agg.loc["PN", "KC_g"]) == expected
    assert agg.attrs["neurons_per_type"] == {"(no type)": 1, "KC_ab": 3, "KC_g": 3, "PN": 5}
    assert agg.attrs["dataset"] == "synthetic"


def test_heatmap_data_neurons_and_types(two_blocks):
    adj, ann, _ = two_blocks
    d = av.heatmap_data(adj, ann, "neurons", "cell type")
    assert d.shape == (12, 12) and d.row_keys.dtype == np.uint64
    assert d.row_labels[0].startswith("KC_ab …") and d.row_full[0] == f"KC_ab {int(d.row_keys[0])}"
    assert len(d.row_full[0].split()[-1]) == 18
    text = d.describe(0, 1)
    assert text.startswith(f"pre KC_ab {int(d.row_keys[0])} → post ") and text.endswith(
        f"{int(d.values[0, 1])} synapses")
    t = av.heatmap_data(adj, ann, "cell types", "clustering")
    assert sorted(t.row_labels) == ["(no type)", "KC_ab", "KC_g", "PN"]
    assert t.provenance["view"] == "cell types" and t.provenance["order"] == "clustering"
    with pytest.raises(ValueError, match="view must be one of"):
        av.heatmap_data(adj, ann, "synapses")


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_export_round_trips_with_provenance(two_blocks, tmp_path, ext):
    adj, ann, _ = two_blocks
    d = av.heatmap_data(adj, ann, "neurons", "clustering")
    path = tmp_path / f"adj{ext}"
    d.export(path)
    back = av.read_matrix(path)
    assert back.index.dtype == np.uint64 and back.columns.dtype == np.uint64
    np.testing.assert_array_equal(back.index.to_numpy(), d.row_keys)  # exact 18-digit IDs, in order
    np.testing.assert_array_equal(back.to_numpy(), d.values)
    assert str(back.attrs["materialization_version"]) == "7"
    assert back.attrs["order"] == "clustering" and back.attrs["dataset"] == "synthetic"
    types = back.attrs["post_cell_types"]
    types = json.loads(types) if isinstance(types, str) else types
    assert types[str(int(d.col_keys[0]))] == d.col_types[0]
    t = av.heatmap_data(adj, ann, "cell types", "cell type")
    t.export(tmp_path / f"types{ext}")
    tb = av.read_matrix(tmp_path / f"types{ext}")
    assert list(tb.index) == list(t.row_keys) and list(tb.columns) == list(t.col_keys)
    np.testing.assert_array_equal(tb.to_numpy(), t.values)


def test_parquet_provenance_is_json_metadata(two_blocks, tmp_path):
    adj, ann, _ = two_blocks
    av.heatmap_data(adj, ann).export(tmp_path / "a.parquet")
    meta = json.loads(pq.read_table(tmp_path / "a.parquet").schema.metadata[b"napari_crant.provenance"])
    assert meta["filters"] == {"threshold": 2} and meta["rows"] == "presynaptic"


def test_unsupported_export_lists_formats_and_writes_nothing(two_blocks, tmp_path):
    adj, ann, _ = two_blocks
    d = av.heatmap_data(adj, ann)
    with pytest.raises(ExportError, match=r"'\.xlsx'.*supported formats: \.csv .*\.parquet"):
        d.export(tmp_path / "adj.xlsx")
    with pytest.raises(ExportError, match="no extension"):
        export_kind(tmp_path / "adj", {".csv": "CSV"})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError):
        read_table(tmp_path / "adj.json")


def test_color_image_and_colorbar():
    lut = np.stack([np.arange(256), np.zeros(256), 255 - np.arange(256), np.full(256, 255)], 1)
    values = np.array([[0, 1], [10, 100]])
    img = av.color_image(values, lut, (1, 2, 3, 255), scale="log")
    assert img.shape == (2, 2, 4) and img.dtype == np.uint8
    assert tuple(img[0, 0]) == (1, 2, 3, 255)  # no synapses: the background colour
    assert tuple(img[0, 1]) == tuple(lut[0]) and tuple(img[1, 1]) == tuple(lut[-1])
    assert img[1, 0, 0] == 128  # 10 is half-way between 1 and 100 on a log scale
    lin = av.color_image(values, lut, (0, 0, 0, 255), scale="linear")
    assert lin[1, 0, 0] == round(0.1 * 255)
    assert av.colorbar_ticks(94) == [1, 2, 5, 10, 20, 50, 94]
    assert av.colorbar_ticks(12282, "log", 2222) == [2222, 5000, 12282]
    assert av.colorbar_ticks(37, "linear") == [0, 10, 20, 37]
    with pytest.raises(ValueError, match="scale must be one of"):
        av.normalized(values, 100, "sqrt")


def test_type_runs():
    assert av.type_runs(["a", "a", "b", "a"]) == [(0, 2, "a"), (2, 3, "b"), (3, 4, "a")]
    assert av.type_runs([]) == []


def test_on_the_tiny_dataset(tiny_path):
    ids = [int(tiny.A2), int(tiny.B2)]
    adj = nc.get_adjacency(ids, ids, symmetric=True, dataset=tiny_path)
    source, at = open_query(tiny_path, "latest")
    ann = current_annotations(source, at)
    d = av.heatmap_data(adj, ann, "neurons", "cell type")
    assert list(d.row_keys) == [tiny.B2, tiny.A2]  # KC_g before PN_DA1
    assert d.values[1, 0] == adj.loc[tiny.A2, tiny.B2] == 4
    t = av.heatmap_data(adj, ann, "cell types")
    assert int(t.values[list(t.row_keys).index("PN_DA1"), list(t.col_keys).index("KC_g")]) == 4
