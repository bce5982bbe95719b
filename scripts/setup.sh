#!/usr/bin/env bash
# Install napari-crant with everything it needs on a fresh Debian/Ubuntu machine:
# the system libraries Qt and OpenGL need (plus Xvfb for headless use, and the venv module),
# then a project virtual environment `.venv` made with the system python3, holding the package
# (editable) with a Qt binding and the test tools.
#
# Nothing is ever pip-installed into the system python (Debian 12 and Ubuntu 24.04 forbid it,
# PEP 668). Safe to run again: packages already present are not reinstalled, and when `.venv`
# already holds this checkout's package for the current pyproject.toml, pip is not run at all.
#
# Environment: PYTHON=/path/to/python3 picks the interpreter for `.venv` (default: the system
# /usr/bin/python3 when it exists, else `python3` on PATH); VENV=DIR another location for it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

say() { echo "setup.sh: $*"; }
die() { echo "setup.sh: error: $*" >&2; exit 1; }

# -- system packages ---------------------------------------------------------------------------
if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install the packages listed in scripts/setup.sh as root"
    SUDO="sudo"
  fi
  pkgs="xvfb xauth libgl1-mesa-dri libegl1 libgl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
        libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0
        libxcb-shape0 libxcb-cursor0 libxcb-xkb1 libdbus-1-3 libfontconfig1
        python3 python3-venv"
  missing=""
  for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    say "installing system packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
  fi
fi

# -- the interpreter ---------------------------------------------------------------------------
if [ -n "${PYTHON:-}" ]; then
  PY="$PYTHON"
elif [ -x /usr/bin/python3 ]; then
  PY=/usr/bin/python3
else
  PY=python3
fi
command -v "$PY" >/dev/null 2>&1 || die "no Python interpreter '$PY' (set PYTHON=/path/to/python3)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); napari-crant needs >= 3.11 (set PYTHON=...)"

# -- the project virtual environment -----------------------------------------------------------
VENV="${VENV:-$ROOT/.venv}"
VPY="$VENV/bin/python"
MADE_BY="$VENV/.napari-crant-python"   # the interpreter the venv was made with
STAMP="$VENV/.napari-crant-setup"      # what was installed, written after pip succeeded
base_id="$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable), sys.version.split()[0])')"
want="checkout: $ROOT
pyproject: $(sha256sum pyproject.toml | cut -d' ' -f1)
extras: all,test"

installed_here() {
  # The venv imports napari_crant from this checkout (not a stale copy elsewhere).
  env -u PYTHONPATH "$VPY" -c 'import sys, napari_crant; sys.exit(not napari_crant.__file__.startswith(sys.argv[1]))' \
    "$ROOT/src/" >/dev/null 2>&1
}
venv_ok() {
  [ -x "$VPY" ] && [ "$(cat "$MADE_BY" 2>/dev/null || true)" = "$base_id" ] \
    && "$VPY" -m pip --version >/dev/null 2>&1
}

if venv_ok && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$want" ] && installed_here; then
  say "$VENV is up to date (pyproject.toml unchanged): nothing to install"
  exit 0
fi

if [ -e "$VENV" ] && ! venv_ok; then
  if [ -f "$VENV/pyvenv.cfg" ]; then
    say "recreating $VENV (made by another interpreter, or incomplete)"
    rm -rf "$VENV"
  else
    die "$VENV exists and is not a virtual environment: move it away or set VENV=..."
  fi
fi
if [ ! -e "$VENV" ]; then
  say "creating the virtual environment $VENV with $PY ($base_id)"
  if ! "$PY" -m venv "$VENV"; then
    rm -rf "$VENV"
    die "'$PY -m venv' failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv) or set PYTHON=..."
  fi
  printf '%s\n' "$base_id" > "$MADE_BY"
fi

say "installing napari-crant (editable) with PyQt6 and the test tools into $VENV"
rm -f "$STAMP"
"$VPY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[all,test]"
installed_here || die "napari_crant is not importable from $ROOT/src in $VENV after pip install"
printf '%s\n' "$want" > "$STAMP.tmp" && mv -f "$STAMP.tmp" "$STAMP"
say "done: run napari-crant as $VENV/bin/napari-crant, the tests as $VPY -m pytest"
