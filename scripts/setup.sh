#!/usr/bin/env bash
# Sets up everything reelmake needs on a fresh Debian/Ubuntu machine: ffmpeg, a font for
# captions, a Python virtual environment, and the package itself.
#   scripts/setup.sh            core install with the export extra (enough for `make demo` and `reelmake export`)
#   scripts/setup.sh test       also the test, bench and local-model extras, chromium, and Node.js with
#                               yaml-language-server for the editor tests (`make test`)
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-core}"
PYTHON="${PYTHON:-python3}"
VENV=.venv

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing $* with apt-get" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    fi
  else
    echo "setup: please install $* (for example: sudo apt-get install -y $*) and run again" >&2
    exit 1
  fi
}

command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_install ffmpeg
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_install fonts-dejavu-core
# The review page's browser test drives Debian's chromium through Playwright (which downloads no browser).
if [ "$extras" = test ] && [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: reelmake needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; rm -rf "$VENV"; "$PYTHON" -m venv "$VENV"; }
fi

stamp="$VENV/.installed-$extras"
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  if [ "$extras" = test ]; then
    # The CPU build of torch first, pinned, so the local extra does not pull CUDA wheels.
    "$VENV/bin/python" -m pip install -q "torch==2.13.0"
    "$VENV/bin/python" -m pip install -q -e ".[test,bench,local]"
  else
    "$VENV/bin/python" -m pip install -q -e ".[export]"
  fi
  touch "$stamp"
fi

if [ "$extras" = test ]; then
  # The editor tests drive yaml-language-server (npm) over the schemas, as VS Code or Neovim would.
  # Without root (and so without node) they are skipped, not failed: say so and carry on.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt_install nodejs npm
    else
      echo "setup: node/npm not found; the editor tests will be skipped (install Node.js 18+ to run them)" >&2
    fi
  fi
  editor=tests/editor
  if command -v npm >/dev/null && { [ ! -e "$editor/node_modules/.installed" ] ||
       [ "$editor/package-lock.json" -nt "$editor/node_modules/.installed" ]; }; then
    echo "setup: installing yaml-language-server into $editor/node_modules" >&2
    npm ci --prefix "$editor" --no-audit --no-fund --loglevel=error
    touch "$editor/node_modules/.installed"
  fi
fi
