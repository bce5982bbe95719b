"""Turning cached CAVE answers into bytes and back, without pickle.

The persistent cache (:mod:`napari_crant.sources.cave.cache`) stores the answers of
:class:`~napari_crant.sources.cave.source.CaveSource` primitives: numpy arrays, pandas
DataFrames and Series, and tuples of them. They are written as ``.npy`` (``allow_pickle=False``)
and Arrow IPC streams (uint64 IDs and UTC timestamps keep their exact types), behind a small
JSON header. Reading never executes anything stored, so a damaged or foreign cache file can only
fail to decode (:class:`CacheDecodeError`), never run code.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

#: First bytes of every encoded value (format version 1).
MAGIC = b"NCRANT-C1"


class CacheDecodeError(ValueError):
    """Bytes that are not a value written by :func:`encode` (damaged or foreign)."""


def _encode_one(value: Any) -> tuple[dict[str, Any], bytes]:
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("object arrays are not cached")
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return {"kind": "ndarray"}, buf.getvalue()
    if isinstance(value, pd.Series):
        _head, data = _encode_one(value.to_frame("values"))  # keeps extension dtypes (tz-aware)
        return {"kind": "series", "name": value.name if isinstance(value.name, str) else None}, data
    if isinstance(value, pd.DataFrame):
        if not isinstance(value.index, pd.RangeIndex) or value.index.start != 0 or value.index.step != 1:
            raise TypeError("only frames with a default index are cached")
        table = pa.Table.from_pandas(value, preserve_index=False)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return {"kind": "frame"}, sink.getvalue()
    raise TypeError(f"values of type {type(value).__name__} are not cached")


def _decode_one(head: dict[str, Any], data: bytes) -> Any:
    kind = head.get("kind")
    if kind == "ndarray":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind in ("frame", "series"):
        with pa.ipc.open_stream(pa.BufferReader(data)) as reader:
            frame = reader.read_all().to_pandas()
        if kind == "frame":
            return frame
        return frame["values"].rename(head.get("name"))
    raise CacheDecodeError(f"unknown part kind {kind!r}")


def encode(value: Any) -> bytes:
    """``value`` (an array, frame, series or a tuple of them) as bytes for the cache.

    Raises
    ------
    TypeError
        A value of another kind (it is then simply not cached).
    """
    items = value if isinstance(value, tuple) else (value,)
    heads, blobs = [], []
    for item in items:
        head, blob = _encode_one(item)
        head["size"] = len(blob)
        heads.append(head)
        blobs.append(blob)
    header = json.dumps({"tuple": isinstance(value, tuple), "parts": heads}).encode()
    return b"".join([MAGIC, len(header).to_bytes(4, "little"), header, *blobs])


def decode(data: bytes) -> Any:
    """The value :func:`encode` turned into ``data``.

    Raises
    ------
    CacheDecodeError
        ``data`` is damaged, truncated or was not written by :func:`encode`.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CacheDecodeError(f"cached value is {type(data).__name__}, not bytes")
    data = bytes(data)
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise CacheDecodeError("not a napari-crant cache value (bad header)")
    start = len(MAGIC) + 4
    size = int.from_bytes(data[len(MAGIC):start], "little")
    try:
        header = json.loads(data[start:start + size])
        parts = header["parts"]
        offset = start + size
        items = []
        for head in parts:
            blob = data[offset:offset + int(head["size"])]
            if len(blob) != int(head["size"]):
                raise CacheDecodeError("cached value is truncated")
            items.append(_decode_one(head, blob))
            offset += len(blob)
    except CacheDecodeError:
        raise
    except Exception as e:  # any failure of json/numpy/arrow on damaged bytes
        raise CacheDecodeError(f"cached value cannot be read ({type(e).__name__})") from None
    if offset != len(data):
        raise CacheDecodeError("cached value has trailing bytes")
    return tuple(items) if header.get("tuple") else items[0]
