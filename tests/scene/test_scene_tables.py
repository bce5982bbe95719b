"""Partner tables, adjacency labels and exports (``napari_crant.scene.tables``), tiny dataset."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import napari_crant as nc
import tiny
from napari_crant.scene.tables import adjacency_labels, export_table


def test_partner_table_matches_connectivity(tiny_loaded, tiny_path):
    conn = nc.get_connectivity([int(tiny.A2), int(tiny.B2)], dataset=tiny_path)
    pt = tiny_loaded.partners
    assert pt["partner_id"].dtype == np.uint64 and pt["neuron_id"].dtype == np.uint64
    up = pt[(pt["direction"] == "upstream") & (pt["neuron_id"].to_numpy(np.uint64) == tiny.B2)]
    exp = conn[conn["post"].to_numpy(np.uint64) == tiny.B2]
    assert dict(zip(up["partner_id"].tolist(), up["weight"].tolist(), strict=True)) == dict(
        zip(exp["pre"].tolist(), exp["weight"].tolist(), strict=True))
    assert up["percent"].sum() == pytest.approx(100.0)
    # annotations follow the edited roots: B2 (from annotated B0) is KC_g, A2 (from A0) PN_DA1
    down = pt[(pt["direction"] == "downstream") & (pt["neuron_id"].to_numpy(np.uint64) == tiny.A2)]
    row = down[down["partner_id"].to_numpy(np.uint64) == tiny.B2].iloc[0]
    assert row["cell_type"] == "KC_g" and row["weight"] == 4
    assert "PRELIM_PROOFREAD" in row["status"]


def test_adjacency_labels(tiny_path, tiny_scene):
    adj = nc.get_adjacency(tiny_scene.root_ids, tiny_scene.root_ids, symmetric=True, dataset=tiny_path)
    rows, cols = adjacency_labels(adj, tiny_scene.annotations)
    assert rows == [f"PN_DA1 ({tiny.A2})", f"KC_g ({tiny.B2})"]
    assert cols == ["PN_DA1", "KC_g"]


def test_export_csv_and_parquet_keep_ids_and_provenance(tiny_loaded, tmp_path):
    df = tiny_loaded.partners
    export_table(df, tmp_path / "p.csv", tiny_loaded.provenance)
    text = (tmp_path / "p.csv").read_text()
    assert "# dataset: tiny" in text and "# materialization_version: 3" in text
    assert f'"{tiny.A0}": {tiny.A2}' in text  # updated IDs recorded
    back = pd.read_csv(tmp_path / "p.csv", comment="#", dtype={"partner_id": str, "neuron_id": str})
    assert list(back["partner_id"]) == [str(v) for v in df["partner_id"]]
    export_table(df, tmp_path / "p.parquet", tiny_loaded.provenance)
    t = pq.read_table(tmp_path / "p.parquet")
    meta = json.loads(t.schema.metadata[b"napari_crant.provenance"])
    assert meta["dataset"] == "tiny" and meta["filters"]["threshold"] == 1
    assert t.column("partner_id").to_pylist() == [int(v) for v in df["partner_id"]]
    with pytest.raises(ValueError, match=r"csv or \.parquet"):
        export_table(df, tmp_path / "p.xlsx", {})
