"""A tiny demo snapshot with its skeleton nodes, built once per test process.

(Not a conftest.py: the Qt tests import their own ``conftest`` by name.)
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from napari_crant.demo import TINY_NEURONS, make_demo
from napari_crant.tissue.geometry import TissueGeometry


@lru_cache(maxsize=1)
def snapshot() -> Path:
    """The snapshot directory (removed when the process exits)."""
    tmp = Path(tempfile.mkdtemp(prefix="napari-crant-tissue-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    out = tmp / "demo"
    make_demo(out, n_neurons=TINY_NEURONS, seed=3)
    return out


@lru_cache(maxsize=1)
def geometry() -> TissueGeometry:
    return TissueGeometry.from_snapshot(snapshot())
