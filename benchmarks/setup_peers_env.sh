#!/usr/bin/env bash
# Create the optional "peers" environment used by benchmarks.latency and
# benchmarks.train_speed to run Ultralytics YOLOv8n-pose / YOLO26n-pose side by side
# with ER-Pose. This is a *benchmark* dependency only, never a package dependency of
# erpose_mm, and it lives in its own venv because Ultralytics needs torchvision and PyPI's
# torchvision does not load beside the project's torch 2.13 CPU wheel.
#
#   bash benchmarks/setup_peers_env.sh            # -> .bench_venv (git-ignored)
#   BENCH_VENV=/some/dir bash benchmarks/setup_peers_env.sh
#
# On x86_64, torch 2.14.1 + torchvision 0.29.1 (a CUDA build that runs on the CPU, ~5.5 GB)
# install together; on aarch64 torch 2.9.1 + torchvision 0.24.1 (CPU build). Override with
# PEERS_TORCH="torch==X torchvision==Y".
#
# Ultralytics must run offline: the venv gets a config dir (YOLO_CONFIG_DIR) holding a
# local TTF copied from matplotlib as Arial.ttf / Arial.Unicode.ttf, so it never tries to
# download fonts; the benchmark scripts also set YOLO_OFFLINE=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-$ROOT/.bench_venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
ULTRA="${PEERS_ULTRALYTICS:-ultralytics>=8.4,<8.5}"

if [[ -z "${PEERS_TORCH:-}" ]]; then
  case "$(uname -m)" in
    x86_64)  PEERS_TORCH="torch==2.14.1 torchvision==0.29.1" ;;
    aarch64) PEERS_TORCH="torch==2.9.1 torchvision==0.24.1" ;;
    *)       PEERS_TORCH="torch torchvision" ;;
  esac
fi

echo "[peers] venv: $VENV  python: $($PY --version)  torch: $PEERS_TORCH"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -m pip install -q --upgrade pip
# torch first, on its own, so the resolver never swaps it later
# shellcheck disable=SC2086
"$VPY" -m pip install $PEERS_TORCH
# pin torch/torchvision for every later call
"$VPY" -m pip freeze | grep -E '^(torch|torchvision)==' > "$VENV/torch-constraints.txt"
"$VPY" -m pip install -c "$VENV/torch-constraints.txt" \
  "$ULTRA" onnx onnxslim onnxruntime==1.32.0 psutil matplotlib opencv-python-headless
# OpenVINO for the YOLO OpenVINO rows of benchmarks.latency (~180 MB); PEERS_OPENVINO=0 skips it
if [[ "${PEERS_OPENVINO:-1}" == 1 ]]; then
  "$VPY" -m pip install -c "$VENV/torch-constraints.txt" openvino
fi

# offline config dir with local fonts
CFG="$VENV/yolo_config"
mkdir -p "$CFG"
FONT="$("$VPY" - <<'EOF'
import os, matplotlib
print(os.path.join(os.path.dirname(matplotlib.__file__), 'mpl-data', 'fonts', 'ttf', 'DejaVuSans.ttf'))
EOF
)"
cp -f "$FONT" "$CFG/Arial.ttf"
cp -f "$FONT" "$CFG/Arial.Unicode.ttf"

# smoke test: both pose models build from yaml, offline, and report their parameters
YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$CFG" "$VPY" - <<'EOF'
import ultralytics, torch
from ultralytics import YOLO
print('ultralytics', ultralytics.__version__, 'torch', torch.__version__)
for name in ('yolov8n-pose.yaml', 'yolo26n-pose.yaml'):
    m = YOLO(name)
    print(name, sum(p.numel() for p in m.model.parameters()), 'params')
EOF
echo "[peers] ready: $VPY (YOLO_CONFIG_DIR=$CFG)"
