"""The session file: round trip, uint64 IDs as strings, atomic writes, clear errors."""

import json

import pytest

from napari_crant.session_file import (
    FORMAT,
    SUFFIX,
    VERSION,
    CameraState,
    QCPosition,
    SessionFileError,
    SessionState,
    is_session_path,
    read_session,
    write_session,
)

BIG = 2**64 - 2  # above 2**63 and far above 2**53
ROOT = 576_460_752_400_000_017


def _state(**kw):
    base = dict(
        dataset="/data/crantb snapshot", materialization=3,
        neurons=[(ROOT, (0.1, 0.2, 0.3, 1.0)), (BIG, (1.0, 0.5, 0.0, 0.8))],
        filters={"threshold": 5, "min_size": None, "clean": True, "update_ids": False,
                 "max_distance": 2500.0},
        color_by="partner",
        camera=CameraState(center=(4200.0, 800.5, 80.25), zoom=0.0123, angles=(10.0, -20.0, 90.0),
                           perspective=30.0, ndisplay=3),
        qc=QCPosition(ROOT, 9_000_000_000_007),
    )
    base.update(kw)
    return SessionState(**base)


def test_round_trip_keeps_everything(tmp_path):
    state = _state()
    path = write_session(tmp_path / f"s{SUFFIX}", state)
    back = read_session(path)
    assert back == state
    assert back.root_ids == [ROOT, BIG]


def test_ids_are_decimal_strings_in_the_file(tmp_path):
    path = write_session(tmp_path / f"s{SUFFIX}", _state())
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["version"] == VERSION
    assert [n["root_id"] for n in doc["neurons"]] == [str(ROOT), str(BIG)]
    assert doc["qc"] == {"root_id": str(ROOT), "synapse_id": "9000000000007"}
    assert str(BIG) in path.read_text()  # exact, never a float


def test_suffix_is_added(tmp_path):
    path = write_session(tmp_path / "mysession", _state(qc=None, camera=None))
    assert path.name == f"mysession{SUFFIX}" and path.is_file()
    assert is_session_path(path) and not is_session_path(tmp_path / "x.json")
    assert read_session(path).camera is None


def test_datetime_materialization_round_trips(tmp_path):
    state = _state(materialization="2025-03-01T12:00:00+00:00")
    assert read_session(write_session(tmp_path / "t", state)).materialization == "2025-03-01T12:00:00+00:00"


def test_write_is_atomic_and_keeps_the_old_file_on_failure(tmp_path):
    path = write_session(tmp_path / "keep", _state())
    before = path.read_text()
    bad = _state(neurons=[(ROOT, (2.0, 0.0, 0.0, 1.0))])  # a colour out of range: refused before writing
    with pytest.raises(SessionFileError, match=r"neurons\[0\]\.color"):
        write_session(path, bad)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(SessionFileError, match="cannot write session"):
        write_session(blocker / "s", _state())
    assert blocker.read_text() == "not a directory"


def _doc(tmp_path, **changes):
    path = write_session(tmp_path / "base", _state())
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        doc[key] = value
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"format": "something else"}, "not a napari-crant session"),
    ({"version": VERSION + 1}, "newer napari-crant"),
    ({"version": "1"}, "version"),
    ({"dataset": ""}, "dataset"),
    ({"neurons": [{"root_id": 5.764607524e17}]}, r"neurons\[0\]\.root_id"),
    ({"neurons": [{"root_id": "abc"}]}, r"neurons\[0\]\.root_id.*'abc'"),
    ({"neurons": [{"root_id": str(2**64)}]}, "unsigned 64-bit"),
    ({"neurons": [{"root_id": "1", "color": [1, 0]}]}, r"neurons\[0\]\.color"),
    ({"neurons": "1 2 3"}, "neurons: expected a list"),
    ({"materialization": "yesterday"}, "materialization"),
    ({"filters": {"threshold": 0}}, "filters.threshold"),
    ({"filters": {"colour": 1}}, "unknown keys"),
    ({"camera": {"center": [1, 2, 3], "zoom": -1}}, "camera.zoom"),
    ({"camera": {"center": [1, 2, 3], "zoom": 1, "ndisplay": 4}}, "camera.ndisplay"),
    ({"color_by": "rainbow"}, "color_by"),
    ({"qc": {"synapse_id": "1"}}, "qc"),
])
def test_invalid_documents_name_the_problem(tmp_path, changes, message):
    path = _doc(tmp_path, **changes)
    with pytest.raises(SessionFileError, match=message) as info:
        read_session(path)
    assert str(path) in str(info.value)


def test_not_json_and_missing_file(tmp_path):
    path = tmp_path / f"broken{SUFFIX}"
    path.write_text('{"format": ')
    with pytest.raises(SessionFileError, match="is not JSON"):
        read_session(path)
    with pytest.raises(SessionFileError, match="cannot read session"):
        read_session(tmp_path / f"missing{SUFFIX}")
    path.write_text("[1, 2]")
    with pytest.raises(SessionFileError, match="expected a JSON object"):
        read_session(path)
