"""Dataset selection, the demo cache, DuckDB over a snapshot, and the make-demo command."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import napari_crant as nc
from napari_crant import datasets
from napari_crant.cli import main
from napari_crant.sources.snapshot import SnapshotError, SnapshotSource
from tiny import A2, B0, B2, X


def test_default_dataset_order(monkeypatch, tiny_path):
    assert nc.get_default_dataset() == "demo"
    monkeypatch.setenv("NAPARI_CRANT_DATASET", tiny_path)
    assert nc.get_default_dataset() == tiny_path
    assert nc.get_connectivity(A2).attrs["dataset"] == "tiny"  # dataset=None uses the env var
    other = datasets.demo_path()
    other.mkdir(parents=True, exist_ok=True)
    nc.set_default_dataset(str(other))  # set_default_dataset wins over the environment
    assert nc.get_default_dataset() == str(other)


def test_registered_dataset_name(tiny_path):
    datasets.register_dataset("mine", tiny_path)
    try:
        assert nc.get_connectivity(A2, dataset="mine").attrs["dataset"] == "mine"
    finally:
        datasets.unregister_dataset("mine")


def test_sql_over_snapshot_tables(tiny_path):
    src = SnapshotSource(tiny_path)
    n = src.sql("SELECT count(*) AS n FROM synapses")["n"].iloc[0]
    assert n == 12
    v = src.sql("SELECT version FROM versions WHERE valid ORDER BY version")["version"].tolist()
    assert v == [2, 3]
    roots = src.sql(f"SELECT child_root_id FROM lineage WHERE parent_root_id = {int(B0)}")
    assert sorted(int(x) for x in roots["child_root_id"]) == [int(B2), int(X)]  # the split


def test_format_version_is_checked(tmp_path, tiny_path):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(tiny_path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="format version 99"):
        SnapshotSource(copy)


def test_make_demo_command(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["make-demo", "--out", str(out), "--neurons", "40", "--seed", "5"]) == 0
    assert "wrote" in capsys.readouterr().out
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["synapses"] > 1000 and counts["versions"] >= 4
    # deterministic: the same seed gives the same synapse table
    again = tmp_path / "e"
    assert main(["make-demo", "--out", str(again), "--neurons", "40", "--seed", "5"]) == 0
    a = SnapshotSource(out).sql("SELECT * FROM synapses ORDER BY id")
    b = SnapshotSource(again).sql("SELECT * FROM synapses ORDER BY id")
    pd.testing.assert_frame_equal(a, b)
    # an existing directory is refused without --overwrite, clearly
    assert main(["make-demo", "--out", str(out), "--neurons", "40"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["make-demo", "--out", str(out), "--neurons", "0"]) == 2
    assert "--neurons must be >= 1" in capsys.readouterr().err


def test_console_script_is_installed():
    # next to the interpreter running the tests (e.g. .venv/bin), whether or not it is on PATH
    script = Path(sysconfig.get_path("scripts")) / "napari-crant"
    res = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "make-demo" in res.stdout and "serve" in res.stdout
    res = subprocess.run([sys.executable, "-m", "napari_crant", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "make-demo" in res.stdout


def test_default_demo_is_built_on_first_use():
    path = datasets.ensure_demo()
    assert (path / "manifest.json").is_file()
    cn = nc.get_connectivity(nc.NeuronCriteria(cell_type="uPN").get_roots()[:1])
    assert cn.attrs["dataset"] == "demo" and len(cn) > 0 and cn["pre"].dtype == np.uint64
