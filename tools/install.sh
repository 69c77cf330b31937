#!/usr/bin/env bash
# Idempotent install of erpose-mm and its OpenMMLab stack into .venv/ (or $ERPOSE_VENV).
#
# Follows ../shared/stack.md: torch 2.13.0 CPU, mmengine 0.10.7, mmcv 2.1.0 with CPU ops
# (prebuilt wheel from ../shared/wheels when present, otherwise compiled), mmdet 3.3.0 and
# mmpose 1.3.2 installed with --no-deps (their declared chumpy/torchvision deps break here),
# xtcocotools built from source (binary wheel is ABI-incompatible with numpy 2),
# mmdeploy 1.3.1 --no-deps, onnxruntime 1.32.0. Re-running it only checks and returns.
#
# CUDA route (ERPOSE_CUDA=cu130 or cu128, docs/install.md): a CUDA torch from PyPI, mmcv
# 2.1.0 compiled with its CUDA ops by your nvcc (needs a CUDA toolkit of the same major
# version as torch's and a gcc that nvcc accepts), onnxruntime-gpu of the same CUDA major.
# With ERPOSE_MMCV_OPS=cpu the route needs no CUDA toolkit: mmcv is compiled with its CPU
# ops only (g++), which is all ER-Pose needs; MMPose models that run mmcv ops on the GPU
# (e.g. YOLOX-Pose's NMS) need the default CUDA-ops build.
#
# Options (env vars):
#   ERPOSE_VENV=path        venv to use/create (default: <repo>/.venv)
#   ERPOSE_TORCH=spec       torch requirement (default torch==2.13.0; cu128 route: torch==2.8.0)
#   ERPOSE_CUDA=route       cpu (default) | cu130 (torch 2.13.0, CUDA 13.0, GPUs sm_75+) |
#                           cu128 (torch 2.8.0, CUDA 12.8, GPUs sm_70+: V100)
#   ERPOSE_ORT=flavour      cpu | gpu: onnxruntime or onnxruntime-gpu (default: gpu on a
#                           CUDA route, else cpu)
#   ERPOSE_MMCV_OPS=ops     CUDA route: cuda (default: mmcv's CUDA ops, needs nvcc) | cpu
#                           (CPU ops only, no CUDA toolkit; enough for ER-Pose)
#   TORCH_CUDA_ARCH_LIST    CUDA route: GPU architectures mmcv's ops are built for (default:
#                           those of the GPUs nvidia-smi lists, else the route's list)
#   CUDA_HOME               CUDA route: the toolkit (default: nvcc on PATH, /usr/local/cuda)
#   ERPOSE_WHEELS=dir       extra --find-links dir holding an mmcv wheel (default ../shared/wheels;
#                           CPU route only: that wheel has no CUDA ops)
#   ERPOSE_NO_VENV=1        install into the current python instead of a venv
#   ERPOSE_DRY_RUN=1        print the commands (pip, venv) instead of running them
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ERPOSE_VENV:-$ROOT/.venv}"
WHEELS="${ERPOSE_WHEELS:-$ROOT/../shared/wheels}"
DRY_RUN="${ERPOSE_DRY_RUN:-0}"
CUDA="${ERPOSE_CUDA:-cpu}"

die() { echo "install.sh: error: $*" >&2; exit 2; }
# run CMD...: run it, or print it (shell-quoted) under ERPOSE_DRY_RUN=1
run() {
  if [ "$DRY_RUN" = "1" ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

case "$CUDA" in
  cpu) TORCH_DEFAULT="torch==2.13.0" ;;
  cu130) TORCH_DEFAULT="torch==2.13.0"; CUDA_MAJOR=13; ORT_GPU_REQ="ort-gpu-cu13.txt"
         ARCH_DEFAULT="7.5;8.0;8.6;8.9;9.0;10.0;12.0" ;;
  cu128) TORCH_DEFAULT="torch==2.8.0"; CUDA_MAJOR=12; ORT_GPU_REQ="ort-gpu-cu12.txt"
         ARCH_DEFAULT="7.0;7.5;8.0;8.6;8.9;9.0" ;;
  *) die "ERPOSE_CUDA=$CUDA: unknown route (cpu, cu130, cu128)" ;;
esac
TORCH_SPEC="${ERPOSE_TORCH:-$TORCH_DEFAULT}"
MMCV_OPS="${ERPOSE_MMCV_OPS:-$([ "$CUDA" = cpu ] && echo cpu || echo cuda)}"
case "$MMCV_OPS" in
  cpu) ;;
  cuda) [ "$CUDA" != cpu ] || die "ERPOSE_MMCV_OPS=cuda needs a CUDA route (ERPOSE_CUDA=cu130 or cu128)" ;;
  *) die "ERPOSE_MMCV_OPS=$MMCV_OPS: unknown (cuda, cpu)" ;;
esac
ORT="${ERPOSE_ORT:-$([ "$CUDA" = cpu ] && echo cpu || echo gpu)}"
case "$ORT" in
  cpu) ORT_REQ="ort-cpu.txt" ;;
  gpu) [ "$CUDA" != cpu ] || die "ERPOSE_ORT=gpu needs a CUDA route (ERPOSE_CUDA=cu130 or cu128)"
       ORT_REQ="$ORT_GPU_REQ" ;;
  *) die "ERPOSE_ORT=$ORT: unknown flavour (cpu, gpu)" ;;
esac

if [ "$CUDA" = cpu ] && [ "$ORT" = cpu ]; then
  STAMP_KEY="v3 $TORCH_SPEC"
else
  STAMP_KEY="v3 $TORCH_SPEC cuda=$CUDA ort=$ORT mmcv_ops=$MMCV_OPS arch=${TORCH_CUDA_ARCH_LIST:-auto}"
fi

if [ "${ERPOSE_NO_VENV:-0}" = "1" ]; then
  PY="$(command -v python3)"
  STAMP="$ROOT/.erpose_install_stamp"
else
  PY="$VENV/bin/python"   # created below, after the checks that can refuse
  STAMP="$VENV/.erpose_install_stamp"
fi
# py_ok CODE: the target python runs CODE without error (false in a dry run without it)
py_ok() { [ -x "$PY" ] && "$PY" -c "$1" >/dev/null 2>&1; }

IMPORTS="import torch, mmcv.ops, mmdet, mmpose, xtcocotools, onnxruntime, erpose_mm"
if [ "$MMCV_OPS" = cpu ]; then
  MMCV_OK="import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'"
else
  # mmcv built with CUDA ops, of torch's CUDA major (a CPU-ops build reports 'not available')
  MMCV_OK="import torch, mmcv, mmcv.ops; from mmcv.ops import get_compiling_cuda_version as v; \
assert mmcv.__version__ == '2.1.0' and v().split('.')[0] == str($CUDA_MAJOR) == torch.version.cuda.split('.')[0]"
  IMPORTS="$IMPORTS; $MMCV_OK"
fi

# Fast path: everything already importable and stamped by this script version.
if [ "$DRY_RUN" != "1" ] && [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_KEY" ] && \
   "$PY" -c "$IMPORTS" 2>/dev/null; then
  echo "[install] environment ready: $PY"
  exit 0
fi

if [ "$CUDA" != cpu ] && [ "$MMCV_OPS" = cpu ]; then
  CXX_BIN="${CXX:-$(command -v g++ || command -v c++ || true)}"
  [ -n "$CXX_BIN" ] || die "ERPOSE_MMCV_OPS=cpu compiles mmcv's CPU ops: no C++ compiler (g++) found"
  echo "[install] CUDA route $CUDA: $TORCH_SPEC, mmcv with CPU ops only (no CUDA toolkit needed), $("$CXX_BIN" --version | head -1)"
elif [ "$CUDA" != cpu ]; then
  # The CUDA route compiles mmcv's CUDA ops: refuse now rather than after the downloads.
  # where torch's cpp_extension looks too: $CUDA_HOME if set, else nvcc on PATH, /usr/local/cuda
  NVCC=""
  if [ -n "${CUDA_HOME:-}" ]; then
    [ -x "$CUDA_HOME/bin/nvcc" ] || die "ERPOSE_CUDA=$CUDA compiles mmcv's CUDA ops: CUDA_HOME=$CUDA_HOME has no bin/nvcc (install a CUDA $CUDA_MAJOR.x toolkit there or unset CUDA_HOME)"
    NVCC="$CUDA_HOME/bin/nvcc"
  else
    # a toolkit = bin/nvcc beside include/cuda_runtime.h (skips wrapper scripts on PATH)
    for cand in "$(command -v nvcc || true)" /usr/local/cuda/bin/nvcc; do
      [ -n "$cand" ] && [ -x "$cand" ] || continue
      home="$(cd "$(dirname "$(readlink -f "$cand")")/.." && pwd)"
      if [ -f "$home/include/cuda_runtime.h" ]; then NVCC="$home/bin/nvcc"; CUDA_HOME="$home"; break; fi
    done
  fi
  [ -n "$NVCC" ] || die "ERPOSE_CUDA=$CUDA compiles mmcv's CUDA ops and needs nvcc from a CUDA $CUDA_MAJOR.x toolkit: none found (set CUDA_HOME or put nvcc on PATH)"
  NVCC_VER="$("$NVCC" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -1)"
  [ "${NVCC_VER%%.*}" = "$CUDA_MAJOR" ] || die "ERPOSE_CUDA=$CUDA needs a CUDA $CUDA_MAJOR.x toolkit, but $NVCC is CUDA ${NVCC_VER:-of unknown version}"
  CXX_BIN="${CXX:-$(command -v g++ || command -v c++ || true)}"
  [ -n "$CXX_BIN" ] || die "ERPOSE_CUDA=$CUDA compiles mmcv: no C++ compiler (g++) found"
  if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null \
      | sort -u | paste -sd ';' || true)"
    TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$ARCH_DEFAULT}"
  fi
  echo "[install] CUDA route $CUDA: $TORCH_SPEC, nvcc $NVCC_VER ($NVCC), $("$CXX_BIN" --version | head -1), TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
fi

if [ "${ERPOSE_NO_VENV:-0}" != "1" ] && [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating venv $VENV"
  run python3 -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
# Pin torch in every pip call so no dependency drags in a different (CUDA) build.
echo "$TORCH_SPEC" > "$CONSTRAINTS"
echo "setuptools<81" >> "$CONSTRAINTS"
export PIP_CONSTRAINT="$CONSTRAINTS${PIP_CONSTRAINT:+ $PIP_CONSTRAINT}"
[ "$DRY_RUN" = "1" ] && echo "# PIP_CONSTRAINT: $(paste -sd ',' "$CONSTRAINTS")"

echo "[install] base tooling"
run "${PIP[@]}" install -q --upgrade pip "setuptools<81" wheel
echo "[install] $TORCH_SPEC"
run "${PIP[@]}" install -q "$TORCH_SPEC"
if [ "$CUDA" != cpu ] && [ "$DRY_RUN" != "1" ]; then
  "$PY" -c "import torch, sys; c = torch.version.cuda; sys.exit(0 if c and c.split('.')[0] == '$CUDA_MAJOR' else 1)" \
    || die "$("$PY" -c 'import torch; print(torch.__version__)') is not a CUDA $CUDA_MAJOR build (torch.version.cuda=$("$PY" -c 'import torch; print(torch.version.cuda)')): ERPOSE_CUDA=$CUDA needs one (PyPI's $TORCH_DEFAULT is; a local +cpu wheel may have shadowed it)"
fi
echo "[install] python dependencies"
OTHER_ORT="onnxruntime-gpu"; [ "$ORT" = gpu ] && OTHER_ORT="onnxruntime"
if py_ok "import importlib.metadata as m; m.version('$OTHER_ORT')"; then
  # onnxruntime and onnxruntime-gpu install the same module: never both
  run "${PIP[@]}" uninstall -q -y "$OTHER_ORT"
fi
run "${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/$ORT_REQ"

echo "[install] mmcv 2.1.0 (with ops)"
if ! py_ok "$MMCV_OK"; then
  if [ "$CUDA" = cpu ]; then
    FL=()
    if ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
      FL=(--find-links "$WHEELS"); echo "[install]   using prebuilt wheel from $WHEELS"
    else
      echo "[install]   no prebuilt wheel: compiling mmcv (10-20 min on 2 cores)"
    fi
    run env MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" "${PIP[@]}" install "${FL[@]}" \
      --no-build-isolation --no-deps mmcv==2.1.0
  elif [ "$MMCV_OPS" = cpu ]; then
    # CPU ops against this (CUDA) torch, from source: a wheel built for another torch fails
    # at import with undefined symbols. No visible GPU, or mmcv's setup builds CUDA ops.
    echo "[install]   compiling mmcv with CPU ops (about 10-20 min on 2 cores, less with more)"
    run env MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES= MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" install --no-cache-dir --no-binary mmcv --no-build-isolation --no-deps \
      mmcv==2.1.0
  else
    # from source, never pip's wheel cache or a find-links wheel (those may be CPU-ops builds)
    echo "[install]   compiling mmcv with CUDA ops (about 5-20 min with 16 cores, per architecture count)"
    run env MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$TORCH_CUDA_ARCH_LIST" \
      CUDA_HOME="$CUDA_HOME" MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" install \
      --no-cache-dir --no-binary mmcv --no-build-isolation --no-deps mmcv==2.1.0
  fi
fi

echo "[install] mmdet / mmpose / mmdeploy (--no-deps, see stack.md)"
run "${PIP[@]}" install -q --no-deps mmdet==3.3.0 mmpose==1.3.2 mmdeploy==1.3.1
# xtcocotools setup.py imports numpy/cython at build time: build against the venv's numpy 2.
run "${PIP[@]}" install -q --no-build-isolation --no-binary xtcocotools xtcocotools==1.14.3

echo "[install] erpose-mm (editable)"
run "${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
[ "$DRY_RUN" = "1" ] && exit 0
"$PY" -c "$IMPORTS; print('[install] ok: torch', torch.__version__, 'mmpose', mmpose.__version__)"
if [ "$CUDA" != cpu ]; then
  "$PY" -c "import torch, onnxruntime as ort; from mmcv.ops import get_compiling_cuda_version as v
print('[install] CUDA: torch', torch.version.cuda, '| mmcv ops CUDA', v(), '| GPU visible:', torch.cuda.is_available(),
      '| onnxruntime', ort.__version__, ort.get_available_providers())"
fi
echo "$STAMP_KEY" > "$STAMP"
