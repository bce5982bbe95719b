"""Damaged snapshots are named, not read silently; overwriting one never disturbs its readers."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

import napari_crant as nc
import tiny
from napari_crant.cli import main
from napari_crant.snapshot import format as fmt
from napari_crant.snapshot import write_snapshot
from napari_crant.snapshot.integrity import DATA_FILES, verify_snapshot
from napari_crant.sources.snapshot import SnapshotError, SnapshotSource
from tiny import A2


@pytest.fixture
def snap(tmp_path):
    path = tmp_path / "tiny"
    tiny.build(path)
    return path


def _manifest(path) -> dict:
    return json.loads((path / fmt.MANIFEST).read_text())


def _set_manifest(path, manifest) -> None:
    (path / fmt.MANIFEST).write_text(json.dumps(manifest))


def _zero_middle(path, n: int = 256) -> None:
    """Overwrite ``n`` bytes in the middle of a file with zeros, keeping its size."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2 - n // 2)
        f.write(b"\0" * n)
    assert path.stat().st_size == size


def test_manifest_records_size_and_checksum_of_every_file(snap):
    files = _manifest(snap)["files"]
    assert sorted(files) == sorted(DATA_FILES)
    for name, rec in files.items():
        assert rec["size"] == (snap / name).stat().st_size
        assert len(rec["blake2b"]) == 128
    result = verify_snapshot(snap)
    assert result.ok and result.has_checksums and sorted(result.checked) == sorted(DATA_FILES)


def test_verify_finds_zeroed_bytes_that_open_does_not(snap, capsys):
    _zero_middle(snap / fmt.SYNAPSES)
    SnapshotSource(snap)  # same size: opening stays cheap and does not read the data
    result = verify_snapshot(snap)
    assert not result.ok
    assert result.problems == [f"{snap / fmt.SYNAPSES} is damaged: its blake2b checksum does not "
                               "match the manifest"]
    assert main(["verify", str(snap)]) == 1
    err = capsys.readouterr().err
    assert "1 problem(s)" in err and "synapses.arrow is damaged" in err


def test_verify_cli_on_a_whole_snapshot(snap, capsys):
    assert main(["verify", str(snap)]) == 0
    assert f"all {len(DATA_FILES)} files match their checksums" in capsys.readouterr().out


@pytest.mark.parametrize("name", [fmt.SYNAPSES, fmt.L2_ROOTS, fmt.ROOTS, fmt.ANNOTATIONS])
def test_truncated_file_is_refused_on_open_naming_it(snap, name):
    path = snap / name
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(SnapshotError, match=f"{path} is damaged: .* bytes, the manifest records"):
        SnapshotSource(snap)
    with pytest.raises(SnapshotError, match=name):
        nc.get_connectivity(A2, dataset=str(snap))
    assert any(name in p for p in verify_snapshot(snap).problems)


def _make_old(snap) -> None:
    """As written before checksums were recorded."""
    manifest = _manifest(snap)
    del manifest["files"]
    _set_manifest(snap, manifest)


def test_old_snapshot_without_checksums_opens_and_verify_says_so(snap, capsys):
    _make_old(snap)
    assert len(nc.get_connectivity(A2, dataset=str(snap))) > 0
    result = verify_snapshot(snap)
    assert result.ok and not result.has_checksums
    assert main(["verify", str(snap)]) == 0
    assert "no checksums recorded" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "kind"), [(fmt.SYNAPSES, "Arrow"), (fmt.VERSIONS, "Parquet")])
def test_truncated_file_of_an_old_snapshot_is_named_on_first_use(snap, name, kind):
    _make_old(snap)
    path = snap / name
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(SnapshotError, match=f"{path} is damaged: not a readable {kind} file"):
        nc.get_synapses(A2, dataset=str(snap))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: [m], "manifest.json is a list, not a JSON object"),
        (lambda m: "snapshot", "manifest.json is a string, not a JSON object"),
        (lambda m: {**m, "info": "tiny"}, "manifest.json: info is a string, not a JSON object"),
        (lambda m: {**m, "format_version": "2"}, r"format_version is '2' \(a string\), not an integer"),
        (lambda m: {**m, "format_version": 99}, "format version 99"),
        (lambda m: {**m, "format": "other"}, "format is 'other'"),
        (lambda m: {**m, "files": []}, "files is a list, not a JSON object"),
        (lambda m: {**m, "files": {fmt.SYNAPSES: {"size": "big"}}},
         "the record of synapses.arrow has no valid size"),
        (lambda m: {**m, "name": 7}, "name is a number, not a string"),
        (lambda m: {k: v for k, v in m.items() if k != "layout"}, "manifest.json: no layout"),
        (lambda m: {**m, "layout": {**m["layout"], "until_us": "soon"}},
         "layout.until_us is 'soon', not an integer"),
    ],
)
def test_malformed_manifest_is_named(snap, edit, match):
    _set_manifest(snap, edit(_manifest(snap)))
    with pytest.raises(SnapshotError, match=match) as e:
        SnapshotSource(snap)
    assert "manifest.json" in str(e.value) or "format version" in str(e.value)
    assert not verify_snapshot(snap).ok


def test_manifest_that_is_not_json(snap):
    (snap / fmt.MANIFEST).write_bytes(b"\xff{")
    with pytest.raises(SnapshotError, match=r"manifest\.json is not valid JSON"):
        SnapshotSource(snap)


@pytest.mark.parametrize("name", [fmt.ROOTS, fmt.L2_EDGES])
def test_missing_file_is_named(snap, name):
    (snap / name).unlink()
    with pytest.raises(SnapshotError, match=f"snapshot {snap} lacks {name}"):
        SnapshotSource(snap)
    assert verify_snapshot(snap).problems == [f"{snap / name} is missing"]


def _heavier(tables):
    """The tiny tables with every synapse 1000 larger (to tell the snapshots apart)."""
    syn = tables.synapses.copy()
    syn["size"] = syn["size"] + 1000
    tables.synapses = syn
    return tables


def test_overwrite_keeps_open_readers_whole_and_new_opens_see_the_new(tmp_path):
    path = tmp_path / "snap"
    write_snapshot(tiny.tables(), path)
    old = SnapshotSource(path)  # nothing read yet but the manifest
    expected = nc.get_synapses(A2, dataset=SnapshotSource(path))
    write_snapshot(_heavier(tiny.tables()), path, overwrite=True)
    again = nc.get_synapses(A2, dataset=old)
    pd.testing.assert_frame_equal(again, expected)
    assert old.sql("SELECT max(size) AS m FROM synapses")["m"].iloc[0] < 1000
    new = nc.get_synapses(A2, dataset=SnapshotSource(path))
    assert (new["size"].to_numpy() == expected["size"].to_numpy() + 1000).all()
    assert verify_snapshot(path).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]  # no temporary left


def test_write_refuses_to_replace_without_overwrite(tmp_path):
    path = tmp_path / "snap"
    write_snapshot(tiny.tables(), path)
    before = _manifest(path)
    with pytest.raises(FileExistsError, match="exists already"):
        write_snapshot(_heavier(tiny.tables()), path)
    assert _manifest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]
