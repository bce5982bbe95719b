"""The cache codec: every kind of cached value comes back exactly (uint64 IDs, UTC times, meshes),
damaged bytes fail with CacheDecodeError, and copies are independent of what the cache keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import trimesh

from napari_crant.sources.cave.cache_codec import CacheDecodeError, copy_value, decode, encode

ROOTS = np.array([576460752653866723, 720575940621039186, 2**64 - 1], dtype=np.uint64)


def a_mesh() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(800.0, 1200.0, 420.0))
    return trimesh.Trimesh(box.vertices + np.array([1.25e5, 3.5e4, 8.4e3]), box.faces, process=False)


def test_arrays_frames_series_and_tuples_round_trip_exactly():
    frame = pd.DataFrame({
        "root_id": ROOTS,
        "size": np.array([1.5, np.nan, 3.0]),
        "created": pd.to_datetime(["2025-01-01T00:00:00.123456", "2025-06-01T00:00:00",
                                   "2026-01-01T00:00:00"], format="ISO8601", utc=True),
    })
    series = pd.Series(pd.to_datetime(["2025-01-01", "NaT", "2025-02-03"], utc=True), name="created")
    value = (ROOTS, frame, series)
    back = decode(encode(value))
    np.testing.assert_array_equal(back[0], ROOTS)
    assert back[0].dtype == np.uint64
    pd.testing.assert_frame_equal(back[1], frame, check_exact=True)
    pd.testing.assert_series_equal(back[2], series, check_exact=True)


def test_mesh_round_trips_as_vertices_and_faces():
    mesh = a_mesh()
    back = decode(encode(mesh))
    assert isinstance(back, trimesh.Trimesh)
    np.testing.assert_array_equal(back.vertices, mesh.vertices)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    assert back.volume == pytest.approx(mesh.volume)
    pair = decode(encode((mesh, ROOTS)))  # a mesh among other values
    np.testing.assert_array_equal(pair[0].faces, mesh.faces)
    np.testing.assert_array_equal(pair[1], ROOTS)


def test_no_pickle_in_a_mesh():
    data = encode(a_mesh())
    assert b"\x80\x04" not in data[:64] and b"trimesh" in data  # a JSON header naming the kind


def test_damaged_mesh_and_bytes_are_refused():
    mesh = a_mesh()
    data = bytearray(encode(mesh))
    # the last face's last index is the last 8 bytes: point it past the vertices
    data[-8:] = np.array([10**6], np.int64).tobytes()
    with pytest.raises(CacheDecodeError, match="vertices that do not exist"):
        decode(bytes(data))
    with pytest.raises(CacheDecodeError, match="truncated"):
        decode(encode(mesh)[:-3])
    with pytest.raises(CacheDecodeError):
        decode(b"NCRANT-C2" + b"\x05\x00\x00\x00" + b"{oops")


def test_values_of_unknown_kinds_are_not_encoded():
    with pytest.raises(TypeError, match="not cached"):
        encode({"a": 1})
    with pytest.raises(TypeError, match="not cached"):
        encode(np.array(["x"], dtype=object))


@pytest.mark.parametrize("make", [lambda: ROOTS.copy(), lambda: pd.DataFrame({"root_id": ROOTS}),
                                  lambda: pd.Series(ROOTS), a_mesh])
def test_copies_are_independent(make):
    kept = make()
    given = copy_value((kept,))[0]
    if isinstance(given, trimesh.Trimesh):
        given.vertices[0] = [0.0, 0.0, 0.0]
        assert not np.array_equal(kept.vertices[0], given.vertices[0])
    elif isinstance(given, pd.DataFrame):
        given.loc[0, "root_id"] = np.uint64(1)
        assert kept.loc[0, "root_id"] == ROOTS[0]
    else:
        given[0] = 1
        assert kept[0] == ROOTS[0]


def test_decode_columns_reads_named_columns_without_the_frame():
    from napari_crant.sources.cave.cache_codec import decode_columns

    ids = np.array([576_460_752_400_000_001, 2**64 - 1, 7], np.uint64)
    frame = pd.DataFrame({"id": ids, "size": np.array([1, 2, 3], np.int64), "x": [0.5, 1.5, 2.5],
                          "when": pd.to_datetime(["2025-01-01"] * 3, utc=True)})
    data = encode(frame)
    got = decode_columns(data, ("size", "id"))
    assert list(got) == ["size", "id"]
    np.testing.assert_array_equal(got["id"], ids, strict=True)
    np.testing.assert_array_equal(got["size"], frame["size"].to_numpy(), strict=True)
    assert decode_columns(data, ("when",)) is None  # tz-aware: decode the frame
    assert decode_columns(data, ("nope",)) is None
    assert decode_columns(encode(ids), ("id",)) is None
    assert decode_columns(encode((frame, ids)), ("id",)) is None
    text = pd.DataFrame({"name": ["a", "b"]})  # stored through Arrow
    assert decode_columns(encode(text), ("name",)) is None
    with pytest.raises(CacheDecodeError):
        decode_columns(data[:-3], ("id",))
    with pytest.raises(CacheDecodeError):
        decode_columns(b"garbage", ("id",))
