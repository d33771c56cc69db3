#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs
# ruff, mypy and pytest. Usage: bash tests/run.sh [pytest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${BRIDGE_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'

echo "== ruff"
"$venv/bin/ruff" check bridge tests bench
echo "== mypy"
"$venv/bin/mypy"
echo "== pytest"
"$venv/bin/python" -m pytest -q "$@"
