#!/usr/bin/env bash
# Create .venv and install raftkv into it (editable), with test extras when asked: bootstrap.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extras=""
[ "${1:-}" = "test" ] && extras="[test]"
stamp=".venv/.installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing raftkv${extras} into .venv (log: .venv/install.log)"
  if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e ".${extras}"; } > .venv/install.log 2>&1; then
    cat .venv/install.log >&2
    echo "bootstrap: installing Python packages failed (see above)" >&2
    exit 1
  fi
  touch "$stamp"
fi
