"""The ``scene`` package's names are imported on first use: the docks import its pandas-free
modules (colours, layer conventions) without pandas (a fresh interpreter each)."""

from __future__ import annotations

import subprocess
import sys

_CODE = """
import sys
import napari_crant.scene.colors, napari_crant.scene.layer_conventions, napari_crant.scene.ui_pulse
import napari_crant.tissue
assert "pandas" not in sys.modules, sorted(m for m in sys.modules if m.startswith("napari_crant"))
import napari_crant.scene as scene
assert {"Scene", "load_neurons", "partner_table"} <= set(dir(scene))
assert "pandas" not in sys.modules
from napari_crant.scene import Scene, load_neurons
from napari_crant.scene.layer_data import METADATA_KEY, Scene as Direct
from napari_crant.scene.layer_conventions import METADATA_KEY as Key
assert Scene is Direct and METADATA_KEY == Key == "napari_crant" and callable(load_neurons)
assert "pandas" in sys.modules
try:
    scene.no_such_name
except AttributeError as e:
    assert "no_such_name" in str(e) and "napari_crant.scene" in str(e)
else:
    raise AssertionError("no error")
print("ok")
"""


def test_scene_names_on_first_use():
    out = subprocess.run([sys.executable, "-c", _CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
