"""The demo's content is pinned: the bounded-memory builder writes what earlier versions wrote.

``DEMO_REVISION`` promises that a demo of a given size and seed holds the same data; these
digests were taken from the snapshots the in-memory stages of session 3 wrote (``main`` at
68cc833) and are over the tables' values (column names, dtypes and bytes), not over the files,
so a pyarrow or pandas release that writes other metadata does not change them.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from napari_crant.demo import TINY_NEURONS, make_demo, synapse_stream
from napari_crant.demo.generator import DEMO_REVISION
from napari_crant.snapshot import synapse_files

PINNED = {
    "default": "3a80699f0f28ccdad3a18fd90f911b7864de73e8ab6a650bfac80cb25a9495a9",
    "small_blocks": "fd9dbd046636f2dc35bed1eee51f44802d789cc9111b13616030cb1ae90d9a4c",
}


def content_digest(path) -> str:
    """sha256 over every table's column names, dtypes and values, and the manifest's info
    and counts."""
    h = hashlib.sha256()
    manifest = json.loads((path / "manifest.json").read_text())
    h.update(json.dumps([manifest["info"], manifest["counts"], manifest["layout"]],
                        sort_keys=True).encode())
    for f in sorted(path.iterdir()):
        if f.suffix == ".arrow":
            table = pa.ipc.open_file(pa.memory_map(str(f))).read_all()
        elif f.suffix == ".parquet":
            table = pq.read_table(f)
        else:
            continue
        h.update(f.name.encode())
        for name, column in zip(table.column_names, table.columns, strict=True):
            h.update(f"{name}:{column.type}".encode())
            if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
                h.update(np.ascontiguousarray(column.to_numpy()).tobytes())
            else:
                h.update(json.dumps(column.to_pylist(), default=str).encode())
    return h.hexdigest()


@pytest.mark.parametrize("blocks", ["default", "small_blocks"])
def test_demo_content_is_pinned(monkeypatch, tmp_path, blocks):
    assert DEMO_REVISION == 3  # a new revision re-pins these digests, on purpose
    if blocks == "small_blocks":  # many blocks, draw chunks and sort runs
        monkeypatch.setattr(synapse_stream, "BLOCK", 400)
        monkeypatch.setattr(synapse_stream, "DRAW_CHUNK", 700)
        monkeypatch.setattr(synapse_stream, "READ_BLOCK", 300)
        monkeypatch.setattr(synapse_files, "DEFAULT_RUN_ROWS", 900)
    path = make_demo(tmp_path / "demo", TINY_NEURONS, seed=4)
    assert content_digest(path) == PINNED[blocks]
