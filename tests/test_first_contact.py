"""First contact: the demo says it builds only when it does; setup.sh refuses what it cannot do."""

import os
import subprocess
from pathlib import Path

from napari_crant import datasets

ROOT = Path(__file__).resolve().parents[1]


def test_demo_announces_building_only_when_it_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_CRANT_CACHE_DIR", str(tmp_path))
    said = []
    path = datasets.ensure_demo(n_neurons=40, seed=3, announce=said.append)
    assert (path / "manifest.json").is_file()
    assert len(said) == 1 and "building the demo dataset" in said[0] and str(path) in said[0]
    again = datasets.ensure_demo(n_neurons=40, seed=3, announce=said.append)
    assert again == path and len(said) == 1  # already there: silent


def _setup(env_changes, tmp_path):
    env = {**os.environ, **env_changes}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)


def test_setup_names_a_missing_interpreter(tmp_path):
    res = _setup({"PYTHON": str(tmp_path / "no-python3")}, tmp_path)
    assert res.returncode != 0
    assert "no Python interpreter" in res.stderr and "PYTHON=" in res.stderr


def test_setup_never_deletes_a_directory_that_is_not_a_venv(tmp_path):
    mine = tmp_path / "not-a-venv"
    mine.mkdir()
    (mine / "notes.txt").write_text("user data")
    res = _setup({"VENV": str(mine)}, tmp_path)
    assert res.returncode != 0 and "is not a virtual environment" in res.stderr
    assert (mine / "notes.txt").read_text() == "user data"


def test_setup_uses_a_venv_and_never_pip_installs_into_the_interpreter():
    script = (ROOT / "scripts" / "setup.sh").read_text()
    pip_lines = [line.strip() for line in script.splitlines() if "-m pip install" in line and
                 not line.strip().startswith("#")]
    assert pip_lines and all(line.startswith('"$VPY" -m pip install') for line in pip_lines), pip_lines
    assert '"$PY" -m venv "$VENV"' in script
