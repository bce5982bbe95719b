"""Turning cached CAVE answers into bytes and back, without pickle.

The persistent cache (:mod:`napari_crant.sources.cave.cache`) stores the answers of
:class:`~napari_crant.sources.cave.source.CaveSource` primitives: numpy arrays, pandas
DataFrames and Series, ``trimesh.Trimesh`` meshes (vertices and faces only), and tuples of
them. Arrays and columns of numbers, booleans and datetimes are written as their raw bytes
(dtype and shape in a small JSON header; tz-aware columns as UTC values plus the zone; a
mesh as its vertex and face arrays, checked on reading), so uint64 IDs and UTC timestamps
keep their exact types and reading is a copy; frames with other columns go through Arrow
IPC. Reading never executes anything stored, so a damaged or foreign cache file can only fail
to decode (:class:`CacheDecodeError`), never run code.
"""

from __future__ import annotations

import io
import json
import math
import sys
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

#: First bytes of every encoded value (format version 2).
MAGIC = b"NCRANT-C2"


class CacheDecodeError(ValueError):
    """Bytes that are not a value written by :func:`encode` (damaged or foreign)."""


def _plain(values: np.ndarray) -> bool:
    """Whether an array is stored as raw bytes (numbers, booleans, datetimes: no objects)."""
    return values.dtype.kind in "biufmM" and not values.dtype.hasobject


def _raw(values: np.ndarray) -> tuple[dict[str, Any], bytes]:
    values = np.ascontiguousarray(values)
    return {"dtype": values.dtype.str, "shape": list(values.shape)}, values.tobytes()


def _from_raw(head: dict[str, Any], data: bytes) -> np.ndarray:
    dtype = np.dtype(head["dtype"])
    if dtype.hasobject:
        raise CacheDecodeError("object arrays are never stored")
    shape = tuple(int(n) for n in head["shape"])
    if math.prod(shape) * dtype.itemsize != len(data):
        raise CacheDecodeError("array size does not match its header")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()  # writable, owns its memory


def _frame_columns(frame: pd.DataFrame) -> list[tuple[dict[str, Any], bytes]] | None:
    """Each column as raw bytes (tz-aware datetimes as their UTC values + the zone), or None if a
    column is of another kind (then the frame goes through Arrow)."""
    parts = []
    for name in frame.columns:
        if not isinstance(name, str):
            return None
        col = frame[name]
        tz = None
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            tz = str(col.dtype.tz)
            values = col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        else:
            values = col.to_numpy()
        if not isinstance(values, np.ndarray) or not _plain(values) or (
                tz is None and not isinstance(col.dtype, np.dtype)):
            return None
        head, blob = _raw(values)
        head.update(name=name, tz=tz)
        parts.append((head, blob))
    return parts


def _is_trimesh(value: Any) -> bool:
    """Whether ``value`` is a ``trimesh.Trimesh`` (without importing trimesh: a value can only be
    one when trimesh is imported already)."""
    trimesh = sys.modules.get("trimesh")
    return trimesh is not None and isinstance(value, trimesh.Trimesh)


def _mesh_arrays(vertices: np.ndarray, faces: np.ndarray) -> None:
    """Check a mesh's arrays: (n, 3) float vertices, (m, 3) integer faces indexing them."""
    if vertices.ndim != 2 or vertices.shape[1] != 3 or vertices.dtype.kind != "f":
        raise ValueError(f"mesh vertices must be an (n, 3) float array, not {vertices.dtype} "
                         f"{vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
        raise ValueError(f"mesh faces must be an (m, 3) integer array, not {faces.dtype} {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("mesh faces index vertices that do not exist")


def _encode_one(value: Any) -> list[tuple[dict[str, Any], bytes]]:
    if _is_trimesh(value):
        vertices, faces = np.asarray(value.vertices), np.asarray(value.faces)
        _mesh_arrays(vertices, faces)
        return [({"kind": "trimesh"}, b""), *_encode_one(vertices), *_encode_one(faces)]
    if isinstance(value, np.ndarray):
        if not _plain(value):
            raise TypeError(f"arrays of dtype {value.dtype} are not cached")
        head, blob = _raw(value)
        return [({"kind": "ndarray", **head}, blob)]
    if isinstance(value, pd.Series):
        parts = _encode_one(value.to_frame("values"))  # keeps extension dtypes (tz-aware)
        parts[0][0].update(kind="series" if parts[0][0]["kind"] == "columns" else "arrow-series",
                           series_name=value.name if isinstance(value.name, str) else None)
        return parts
    if isinstance(value, pd.DataFrame):
        if not isinstance(value.index, pd.RangeIndex) or value.index.start != 0 or value.index.step != 1:
            raise TypeError("only frames with a default index are cached")
        columns = _frame_columns(value)
        if columns is not None:
            return [({"kind": "columns", "n": len(columns), "rows": len(value)}, b""), *columns]
        table = pa.Table.from_pandas(value, preserve_index=False)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return [({"kind": "arrow"}, sink.getvalue())]
    raise TypeError(f"values of type {type(value).__name__} are not cached")


def _decode_frame(head: dict[str, Any], columns: list[tuple[dict[str, Any], bytes]]) -> pd.DataFrame:
    data = {}
    for col_head, blob in columns:
        values = _from_raw(col_head, blob)
        if len(values) != int(head["rows"]):
            raise CacheDecodeError("columns of different lengths")
        tz = col_head.get("tz")
        data[col_head["name"]] = pd.Series(values).dt.tz_localize("UTC").dt.tz_convert(tz) if tz else values
    return pd.DataFrame(data, index=pd.RangeIndex(int(head["rows"])))


def _decode_arrow(data: bytes) -> pd.DataFrame:
    with pa.ipc.open_stream(pa.BufferReader(data)) as reader:
        return reader.read_all().to_pandas()


def _decode_mesh(parts: list[tuple[dict[str, Any], bytes]]) -> Any:
    import trimesh

    if len(parts) != 2 or any(head.get("kind") != "ndarray" for head, _ in parts):
        raise CacheDecodeError("a mesh without its vertex and face arrays")
    vertices, faces = (_from_raw(head, blob) for head, blob in parts)
    try:
        _mesh_arrays(vertices, faces)
    except ValueError as e:
        raise CacheDecodeError(str(e)) from None
    return trimesh.Trimesh(vertices, faces, process=False)


def _decode_parts(parts: list[tuple[dict[str, Any], bytes]]) -> list[Any]:
    items = []
    i = 0
    while i < len(parts):
        head, blob = parts[i]
        kind = head.get("kind")
        if kind == "ndarray":
            items.append(_from_raw(head, blob))
            i += 1
            continue
        if kind == "trimesh":
            items.append(_decode_mesh(parts[i + 1:i + 3]))
            i += 3
            continue
        if kind in ("columns", "series"):
            n = int(head["n"])
            frame = _decode_frame(head, parts[i + 1:i + 1 + n])
            i += 1 + n
        elif kind in ("arrow", "arrow-series"):
            frame = _decode_arrow(blob)
            i += 1
        else:
            raise CacheDecodeError(f"unknown part kind {kind!r}")
        items.append(frame["values"].rename(head.get("series_name")) if kind in ("series", "arrow-series")
                     else frame)
    return items


def encode(value: Any) -> bytes:
    """``value`` (an array, frame, series, trimesh mesh or a tuple of them) as bytes for the cache.

    Raises
    ------
    TypeError
        A value of another kind (it is then simply not cached).
    ValueError
        A mesh whose arrays are not (n, 3) float vertices and (m, 3) faces indexing them.
    """
    items = value if isinstance(value, tuple) else (value,)
    heads, blobs = [], []
    for item in items:
        for head, blob in _encode_one(item):
            head["size"] = len(blob)
            heads.append(head)
            blobs.append(blob)
    header = json.dumps({"tuple": isinstance(value, tuple), "items": len(items), "parts": heads}).encode()
    return b"".join([MAGIC, len(header).to_bytes(4, "little"), header, *blobs])


def _split(data: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """The header and the ``(part header, bytes)`` of ``data``, sizes checked."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CacheDecodeError(f"cached value is {type(data).__name__}, not bytes")
    data = bytes(data)
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise CacheDecodeError("not a napari-crant cache value (bad header)")
    start = len(MAGIC) + 4
    size = int.from_bytes(data[len(MAGIC):start], "little")
    try:
        header = json.loads(data[start:start + size])
        offset = start + size
        parts = []
        for head in header["parts"]:
            blob = data[offset:offset + int(head["size"])]
            if len(blob) != int(head["size"]):
                raise CacheDecodeError("cached value is truncated")
            parts.append((head, blob))
            offset += len(blob)
    except CacheDecodeError:
        raise
    except Exception as e:  # any failure of json on damaged bytes
        raise CacheDecodeError(f"cached value cannot be read ({type(e).__name__})") from None
    if offset != len(data):
        raise CacheDecodeError("cached value has trailing bytes")
    return header, parts


def decode(data: bytes) -> Any:
    """The value :func:`encode` turned into ``data``.

    Raises
    ------
    CacheDecodeError
        ``data`` is damaged, truncated or was not written by :func:`encode`.
    """
    header, parts = _split(data)
    try:
        items = _decode_parts(parts)
        if len(items) != int(header["items"]):
            raise CacheDecodeError("cached value has a wrong number of items")
    except CacheDecodeError:
        raise
    except Exception as e:  # any failure of json/numpy/pandas/arrow on damaged bytes
        raise CacheDecodeError(f"cached value cannot be read ({type(e).__name__})") from None
    return tuple(items) if header.get("tuple") else items[0]


def decode_columns(data: bytes, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Columns ``names`` of the frame :func:`encode` turned into ``data``, without making the frame.

    Only for a frame stored as raw columns (the synapse tables CAVE answers): each column is a
    read-only array over ``data``'s bytes (no copy; the caller copies what it keeps).

    Returns
    -------
    dict or None
        ``{name: array}``; None when ``data`` holds another kind of value, or a frame without one
        of ``names`` or with a tz-aware one among them (then :func:`decode` it).

    Raises
    ------
    CacheDecodeError
        ``data`` is damaged, truncated or was not written by :func:`encode`.
    """
    header, parts = _split(data)
    if header.get("tuple") or not parts or parts[0][0].get("kind") != "columns":
        return None
    head = parts[0][0]
    try:
        rows, n = int(head["rows"]), int(head["n"])
        by_name = {col_head.get("name"): (col_head, blob) for col_head, blob in parts[1:1 + n]}
        if len(parts) != 1 + n or any(name not in by_name or by_name[name][0].get("tz") for name in names):
            return None
        out = {}
        for name in names:
            col_head, blob = by_name[name]
            dtype = np.dtype(col_head["dtype"])
            shape = tuple(int(k) for k in col_head["shape"])
            if dtype.hasobject or shape != (rows,) or rows * dtype.itemsize != len(blob):
                raise CacheDecodeError("a column does not match its header")
            out[name] = np.frombuffer(blob, dtype=dtype)
    except CacheDecodeError:
        raise
    except Exception as e:  # any failure of numpy on damaged headers
        raise CacheDecodeError(f"cached value cannot be read ({type(e).__name__})") from None
    return out


def copy_value(value: Any) -> Any:
    """A deep copy of a value :func:`encode` accepts (arrays, frames, series, tuples of them), so a
    value kept in memory is never changed through what a caller was given."""
    if isinstance(value, tuple):
        return tuple(copy_value(item) for item in value)
    if isinstance(value, np.ndarray | pd.DataFrame | pd.Series) or _is_trimesh(value):
        return value.copy()
    raise TypeError(f"values of type {type(value).__name__} are not cached")
