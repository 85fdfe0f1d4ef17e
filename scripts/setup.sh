#!/usr/bin/env bash
# vlab set-up for a fresh Debian machine (as root, or with sudo).
#   bash scripts/setup.sh lab    install everything and open the course in JupyterLab
#   bash scripts/setup.sh test   install what the tests need and run the whole suite
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-lab}"
case "$mode" in lab|test) ;; *) echo "usage: bash scripts/setup.sh lab|test" >&2; exit 2 ;; esac

# System packages: python3 with venv, GNU binutils (the guest assembler), gcc, graphviz (diagrams),
# bubblewrap (the grader's sandbox), and for the tests Chromium and Bochs.
need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv python3-pip)
command -v as >/dev/null && command -v ld >/dev/null && command -v objcopy >/dev/null || need+=(binutils)
# A C compiler builds vlab's native instruction counter (vlab/hw/blockcount.c, no C library
# needed): exact counts at near the core's full speed (without it vlab counts with Unicorn's
# count= mode, about ten times slower).
command -v cc >/dev/null || need+=(gcc)
command -v dot >/dev/null || need+=(graphviz)
# The grader runs each submission in a bubblewrap sandbox, with the system's Python 3 (an
# interpreter another user may run).
command -v bwrap >/dev/null || need+=(bubblewrap)
[ -x /usr/bin/python3 ] || need+=(python3)
# The tests drive the lab UI in a real browser: Debian's Chromium (never a downloaded one).
[ "$mode" = test ] && { command -v chromium >/dev/null || need+=(chromium); }
# ... and the Chinese edition's screenshots need a font with Chinese glyphs.
[ "$mode" = test ] && { fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei); }
# The conformance tests run every program on Bochs too, an x86 emulator independent of vlab's
# (tests/conformance/bochs.py): the emulator, its curses display (it is run headless on a
# pseudo-terminal), its BIOS and VGA BIOS.
[ "$mode" = test ] && { command -v bochs >/dev/null || need+=(bochs bochs-term bochsbios vgabios); }
if ((${#need[@]})); then
  echo "vlab: installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Python packages in a project virtual environment.
[ -x .venv/bin/python ] || python3 -m venv .venv
extra="lab"; [ "$mode" = test ] && extra="test"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extra]"
.venv/bin/python -m vlab.ui.kernel install --sys-prefix >/dev/null  # the "x86 (vlab)" kernel
.venv/bin/python -m vlab.hw.blocks >/dev/null  # build the native instruction counter now

if [ "$mode" = lab ]; then
  root_flag=""; [ "$(id -u)" -eq 0 ] && root_flag="--allow-root"
  exec .venv/bin/jupyter lab $root_flag notebooks/
fi
.venv/bin/ruff check vlab tests benchmarks
.venv/bin/lint-imports  # the architecture's import contracts (pyproject.toml, ARCHITECTURE.md)
# every core (pytest-xdist; the browser tests share one worker), the slowest tests listed
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n auto --dist loadgroup --durations=30
