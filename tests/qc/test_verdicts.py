"""Verdict storage: committed at once, keyed by supervoxels, exported and imported safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import napari_crant as nc
from napari_crant.qc.verdicts import VerdictError, VerdictStore
from tiny import A0, A2, sv, synapse_id


@pytest.fixture
def store(tmp_path):
    with VerdictStore(tmp_path / "v.sqlite") as s:
        yield s


def test_set_get_and_overwrite_keeps_history(store):
    store.set_verdict("tiny", synapse_id(1), sv(1), sv(5), "correct", reviewer="ana",
                      pre_pt_root_id=A2, x=1.0, y=2.0, z=3.0)
    store.set_verdict("tiny", synapse_id(1), sv(1), sv(5), "false_positive", note="membrane", reviewer="ana")
    v = store.verdicts("tiny")
    assert len(v) == 1 and v["verdict"].iloc[0] == "false_positive" and v["note"].iloc[0] == "membrane"
    assert v["synapse_id"].dtype == np.uint64 and int(v["synapse_id"].iloc[0]) == int(synapse_id(1))
    h = store.history()
    assert h["verdict"].tolist() == ["correct", "false_positive"]
    store.clear_verdict("tiny", synapse_id(1), sv(1), sv(5))
    assert store.verdicts("tiny").empty and store.history()["change"].tolist()[-1] == "cleared"


def test_bad_verdicts_are_refused(store):
    with pytest.raises(VerdictError, match="'great' is not one of correct"):
        store.set_verdict("tiny", 1, 2, 3, "great")
    with pytest.raises(VerdictError, match=r"synapse_id 1\.5 is a float"):
        store.set_verdict("tiny", 1.5, 2, 3, "correct")
    with pytest.raises(VerdictError, match="dataset must be a non-empty name"):
        store.set_verdict("", 1, 2, 3, "correct")
    assert store.verdicts().empty


def test_verdicts_survive_root_id_changes(store, tiny_path):
    # reviewed while the neuron was A0 (at a time before op1) ...
    old = nc.get_synapses(pre_ids=A0, materialization=pd.Timestamp("2025-02-15", tz="UTC"),
                          update_ids=False, dataset=tiny_path)
    row = old[old["id"] == synapse_id(1)].iloc[0]
    store.set_verdict("tiny", row["id"], row["pre_pt_supervoxel_id"], row["post_pt_supervoxel_id"],
                      "correct", pre_pt_root_id=row["pre_pt_root_id"])
    # ... they reappear on the synapses of the updated root A2
    new = nc.get_synapses(pre_ids=A2, materialization="live", dataset=tiny_path)
    got = store.for_synapses("tiny", new)
    assert got.loc[new["id"] == synapse_id(1), "verdict"].tolist() == ["correct"]
    assert got.loc[new["id"] != synapse_id(1), "verdict"].isna().all()
    assert store.for_synapses("other-dataset", new)["verdict"].isna().all()


def test_resume_after_reopen(tmp_path):
    path = tmp_path / "v.sqlite"
    with VerdictStore(path) as s:
        s.set_verdict("tiny", 1, 2, 3, "unsure")
    with VerdictStore(path) as s:
        assert s.verdicts()["verdict"].tolist() == ["unsure"]


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_export_import_roundtrip_with_provenance(store, tmp_path, ext):
    big = 2**63 + 12345  # beyond int64: stored as text, exact
    store.set_verdict("tiny", big, sv(1), sv(5), "wrong_partner", note="a, b; \"quoted\"", reviewer="ana")
    store.set_verdict("tiny", synapse_id(3), sv(2), sv(7), "correct", reviewer="bo")
    out = store.export(tmp_path / f"v{ext}", dataset="tiny")
    if ext == ".csv":
        head = out.read_text().splitlines()[:2]
        assert head[0] == "# format: napari-crant-verdicts" and head[1].startswith("# schema_version")
    with VerdictStore(tmp_path / "other.sqlite") as other:
        assert other.import_file(out) == 2
        got = other.verdicts("tiny").sort_values("synapse_id").reset_index(drop=True)
    want = store.verdicts("tiny").sort_values("synapse_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert int(got["synapse_id"].iloc[-1]) == big


def test_corrupt_or_foreign_imports_change_nothing(store, tmp_path):
    store.set_verdict("tiny", 1, 2, 3, "correct")
    before = store.verdicts()
    foreign = tmp_path / "foreign.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(foreign, index=False)
    with pytest.raises(VerdictError, match="not a napari-crant verdict export"):
        store.import_file(foreign)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\x00\x01 not parquet")
    with pytest.raises(VerdictError, match="could not be read as a verdict file"):
        store.import_file(garbage)
    store.export(tmp_path / "good.csv")
    bad_row = tmp_path / "bad_row.csv"
    text = (tmp_path / "good.csv").read_text()
    bad_row.write_text(text + text.splitlines()[-1].replace(",correct,", ",superb,") + "\n")
    with pytest.raises(VerdictError, match="row 2: verdict 'superb'"):
        store.import_file(bad_row)
    with pytest.raises(VerdictError, match="does not exist"):
        store.import_file(tmp_path / "missing.csv")
    with pytest.raises(VerdictError, match=r"not '\.txt'"):
        store.import_file(foreign.rename(tmp_path / "x.txt"))
    pd.testing.assert_frame_equal(store.verdicts(), before)
    assert len(store.history()) == 1


def test_a_corrupt_database_file_is_reported(tmp_path):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(VerdictError, match="not a napari-crant verdict database"):
        VerdictStore(path)


def test_killed_mid_review_keeps_every_acknowledged_verdict(tmp_path):
    path = tmp_path / "v.sqlite"
    script = textwrap.dedent(f"""
        import sys
        from napari_crant.qc.verdicts import VerdictStore
        s = VerdictStore({str(path)!r})
        i = 0
        while True:
            s.set_verdict("tiny", 10**17 + i, i + 1, i + 2, ("correct", "false_positive")[i % 2])
            print(i, flush=True)  # acknowledged to the reviewer only after the commit
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acked = []
    for line in proc.stdout:
        acked.append(int(line))
        if len(acked) >= 60:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with VerdictStore(path) as s:
        stored = {int(x) - 10**17 for x in s.verdicts("tiny")["synapse_id"]}
    assert set(acked) <= stored
