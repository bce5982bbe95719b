"""The npe2 manifest is found through the entry point in the editable install and in a wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_npe2_validate_editable_install():
    npe2 = Path(sysconfig.get_path("scripts")) / "npe2"  # next to this interpreter (e.g. .venv/bin)
    res = subprocess.run([str(npe2), "validate", "napari-crant"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "valid" in (res.stdout + res.stderr).lower()


def test_manifest_symlink_points_at_top_level_yaml():
    pkg_yaml = ROOT / "src" / "napari_crant" / "napari.yaml"
    assert pkg_yaml.resolve() == (ROOT / "napari.yaml").resolve()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build_dir = tmp_path_factory.mktemp("build")
    res = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True, text=True, env={**os.environ, "TMPDIR": str(build_dir)},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (whl,) = out.glob("napari_crant-*.whl")
    return whl


def test_wheel_ships_the_manifest_and_entry_point(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "napari_crant/napari.yaml" in names
        shipped = z.read("napari_crant/napari.yaml").decode()
        eps = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert shipped == (ROOT / "napari.yaml").read_text()
    assert "[napari.manifest]" in eps and "napari-crant = napari_crant:napari.yaml" in eps
    assert "napari-crant = napari_crant.cli:main" in eps


def test_npe2_validates_the_installed_wheel(wheel, tmp_path):
    target = tmp_path / "site"
    res = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr
    # The wheel's copy comes first on sys.path, so npe2 resolves the distribution and the
    # manifest from it (not from the editable checkout).
    code = (
        "import npe2, napari_crant, importlib.metadata as md;"
        "dist = md.distribution('napari-crant');"
        "mf = npe2.PluginManifest.from_distribution('napari-crant');"
        "print(napari_crant.__file__); print(dist._path); print(mf.name, len(mf.contributions.widgets or []))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    file_line, dist_line, summary = res.stdout.strip().splitlines()[-3:]
    assert file_line.startswith(str(target)) and dist_line.startswith(str(target))
    assert summary.startswith("napari-crant")
