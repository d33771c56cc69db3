#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs
# ruff, mypy and pytest. Usage: bash tests/run.sh [pytest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

# The SFTP tests run Debian's OpenSSH sshd on a free port of 127.0.0.1. Install it when it
# is missing and we may (root); policy-rc.d stops the package from starting a system sshd.
if [ ! -x /usr/sbin/sshd ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing openssh-server (for the SFTP tests)"
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  # A failed install must not stop the other tests: the SFTP tests report it themselves.
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
         --no-install-recommends openssh-server >/dev/null; }; then
    echo "warning: could not install openssh-server" >&2
  fi
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi
# The shared ledger's tests start a private PostgreSQL server (Debian's binaries, never the
# system service, which policy-rc.d keeps from starting).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
   && command -v apt-get >/dev/null; then
  echo "== installing postgresql (for the tests of the shared ledger)"
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
         --no-install-recommends postgresql >/dev/null; }; then
    echo "warning: could not install postgresql: the shared ledger's tests will fail" >&2
  fi
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi
# The HTML reports are checked as a browser shows them: Debian's chromium, headless.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing chromium (for the tests of the HTML reports)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       chromium >/dev/null; then
    echo "warning: could not install chromium: the browser tests will skip" >&2
  fi
fi
if [ ! -x /usr/sbin/sshd ]; then
  echo "warning: /usr/sbin/sshd is missing: the SFTP tests will skip (and fail when CI=true)" >&2
fi

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
# The ledger's tests once more, every ledger a schema of a private PostgreSQL server.
if [ "$#" = 0 ]; then
  echo "== pytest, ledger on PostgreSQL"
  "$venv/bin/python" -m pytest -q --ledger-backend=postgresql $(cat tests/on-postgresql.txt)
fi
