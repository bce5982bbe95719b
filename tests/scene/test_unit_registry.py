"""``scene/warmup.py``: napari's unit registry built in a worker and installed only while napari's own
is not built (each case in a fresh interpreter: pint's application registry is process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

_CASES = {
    "installed": """
import threading, pint
from pint.registry import LazyRegistry
from napari_crant.scene.warmup import build_unit_registry, install_unit_registry
box = []
t = threading.Thread(target=lambda: box.append(build_unit_registry())); t.start(); t.join()
reg = box[0]
assert isinstance(pint.get_application_registry().get(), LazyRegistry)  # the worker left it alone
assert install_unit_registry(reg)
assert pint.get_application_registry().get() is reg
q = pint.get_application_registry().Quantity(3, "um").to("nm")
assert round(q.magnitude) == 3000 and str(q.units) == "nanometer"
assert build_unit_registry() is None and not install_unit_registry(reg)  # built: nothing more
print("ok")
""",
    "napari built its own first": """
import pint
from napari_crant.scene.warmup import build_unit_registry, install_unit_registry
reg = build_unit_registry()
own = pint.get_application_registry()
own.Unit("nm")  # a first layer builds the lazy registry meanwhile (the main thread)
lazy = own.get()
assert not install_unit_registry(reg)  # units of the built one exist: never swapped
assert pint.get_application_registry().get() is lazy
print("ok")
""",
}


@pytest.mark.parametrize("case", list(_CASES))
def test_unit_registry(case):
    out = subprocess.run([sys.executable, "-c", _CASES[case]], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
