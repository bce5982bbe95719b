#!/usr/bin/env bash
# Install napari-crant with everything it needs on a fresh Debian/Ubuntu machine:
# the system libraries Qt and OpenGL need (plus Xvfb for headless use), then the package
# itself (editable) with a Qt binding and the test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" != 0 ] && SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  pkgs="xvfb xauth libgl1-mesa-dri libegl1 libgl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
        libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0
        libxcb-shape0 libxcb-cursor0 libxcb-xkb1 libdbus-1-3 libfontconfig1"
  missing=""
  for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "installing system packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
  fi
fi

PY="${PYTHON:-python3}"
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[all,test]"
