#!/usr/bin/env bash
# Install everything if needed (idempotent) and run the test suite.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/install.sh
PY="$ROOT/.venv/bin/python"
[ "${ERPOSE_NO_VENV:-0}" = "1" ] && PY="$(command -v python3)"
exec "$PY" -m pytest tests -q -p no:cacheprovider "$@"
