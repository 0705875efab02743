#!/usr/bin/env bash
# Installs the Python peer with its test extras into a fresh virtualenv and runs its test suite.
# Assumes `npm ci` was run at the repository root (the cross-language tests start TypeScript peers with npx tsx).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${EDGEML_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$here[test]"
cd "$here"
export EDGEML_REQUIRE_TS=1  # the cross-language tests must run here, not skip
set +e
"$venv/bin/python" -m pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "ci.sh: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
