#!/usr/bin/env bash
# Idempotent install of erpose-mm and its OpenMMLab stack into .venv/ (or $ERPOSE_VENV).
#
# Follows ../shared/stack.md: torch 2.13.0 CPU, mmengine 0.10.7, mmcv 2.1.0 with CPU ops
# (prebuilt wheel from ../shared/wheels when present, otherwise compiled), mmdet 3.3.0 and
# mmpose 1.3.2 installed with --no-deps (their declared chumpy/torchvision deps break here),
# xtcocotools built from source (binary wheel is ABI-incompatible with numpy 2),
# mmdeploy 1.3.1 --no-deps. Re-running it only checks and returns.
#
# Options (env vars):
#   ERPOSE_VENV=path        venv to use/create (default: <repo>/.venv)
#   ERPOSE_TORCH=spec       torch requirement (default torch==2.13.0; GPU users: see README)
#   ERPOSE_WHEELS=dir       extra --find-links dir holding an mmcv wheel (default ../shared/wheels)
#   ERPOSE_NO_VENV=1        install into the current python instead of a venv
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ERPOSE_VENV:-$ROOT/.venv}"
TORCH_SPEC="${ERPOSE_TORCH:-torch==2.13.0}"
WHEELS="${ERPOSE_WHEELS:-$ROOT/../shared/wheels}"
STAMP_KEY="v3 $TORCH_SPEC"

if [ "${ERPOSE_NO_VENV:-0}" = "1" ]; then
  PY="$(command -v python3)"
  STAMP="$ROOT/.erpose_install_stamp"
else
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[install] creating venv $VENV"
    python3 -m venv "$VENV"
  fi
  PY="$VENV/bin/python"
  STAMP="$VENV/.erpose_install_stamp"
fi

# Fast path: everything already importable and stamped by this script version.
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_KEY" ] && \
   "$PY" -c "import torch, mmcv.ops, mmdet, mmpose, xtcocotools, onnxruntime, erpose_mm" 2>/dev/null; then
  echo "[install] environment ready: $PY"
  exit 0
fi

PIP=("$PY" -m pip --disable-pip-version-check)
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
# Pin torch in every pip call so no dependency drags in a different (CUDA) build.
echo "$TORCH_SPEC" > "$CONSTRAINTS"
echo "setuptools<81" >> "$CONSTRAINTS"
export PIP_CONSTRAINT="$CONSTRAINTS${PIP_CONSTRAINT:+ $PIP_CONSTRAINT}"

echo "[install] base tooling"
"${PIP[@]}" install -q --upgrade pip "setuptools<81" wheel
echo "[install] $TORCH_SPEC"
"${PIP[@]}" install -q "$TORCH_SPEC"
echo "[install] python dependencies"
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt"

echo "[install] mmcv 2.1.0 (with ops)"
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  FL=()
  if ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    FL=(--find-links "$WHEELS"); echo "[install]   using prebuilt wheel from $WHEELS"
  else
    echo "[install]   no prebuilt wheel: compiling mmcv (10-20 min on 2 cores)"
  fi
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" "${PIP[@]}" install "${FL[@]}" \
    --no-build-isolation --no-deps mmcv==2.1.0
fi

echo "[install] mmdet / mmpose / mmdeploy (--no-deps, see stack.md)"
"${PIP[@]}" install -q --no-deps mmdet==3.3.0 mmpose==1.3.2 mmdeploy==1.3.1
# xtcocotools setup.py imports numpy/cython at build time: build against the venv's numpy 2.
"${PIP[@]}" install -q --no-build-isolation --no-binary xtcocotools xtcocotools==1.14.3

echo "[install] erpose-mm (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
"$PY" -c "import torch, mmcv.ops, mmdet, mmpose, xtcocotools, onnxruntime, erpose_mm; print('[install] ok: torch', torch.__version__, 'mmpose', mmpose.__version__)"
echo "$STAMP_KEY" > "$STAMP"
