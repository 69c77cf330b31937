#!/usr/bin/env bash
# Install everything if needed (idempotent) and run the test suite (tests/unit/ and
# tests/integration/); extra arguments go to pytest:
#   bash tools/run_tests.sh                  # everything
#   bash tools/run_tests.sh -m "not slow"    # the fast loop: no subprocess, training, export
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/install.sh
PY="$ROOT/.venv/bin/python"
[ "${ERPOSE_NO_VENV:-0}" = "1" ] && PY="$(command -v python3)"
exec "$PY" -m pytest tests -q -p no:cacheprovider "$@"
