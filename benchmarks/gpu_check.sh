#!/usr/bin/env bash
# GPU check, one command, one markdown file (docs/gpu.md says how to read it):
#   1. install the CUDA route into a fresh venv (tools/install.sh, ERPOSE_CUDA=cu130 by
#      default), or use --python PY (an environment that already has the stack);
#   2. make synthetic COCO-keypoint data;
#   3. train ER-Pose-n (configs/erpose/erpose-n_synthetic-256.py) ITERS iterations without
#      and with --amp (mixed precision), each validated at its end; evaluate the fp32
#      checkpoint with tools/test.py;
#   4. export fp32 and fp16 ONNX; parity of ONNX Runtime (CUDA) and PyTorch (CUDA, fp32 and
#      autocast fp16) against PyTorch float32 on the CPU;
#   5. latency of ER-Pose-n, YOLOv8n-pose and YOLO26n-pose (ONNX Runtime fp32 / fp16 and
#      PyTorch) when an Ultralytics environment is given (--peers-python, default
#      .bench_venv/bin/python; benchmarks/setup_peers_env.sh makes one);
#   6. tools/infer.py and tools/onnx_infer.py on the device, as a user runs them; the
#      training step without data loading (benchmarks.train_speed, batch 32, fp32 and
#      AMP, with the peers) and the loss alone (benchmarks.loss_ops);
#   7. write WORK_DIR/gpu_check.md (and --out).
#
#   bash benchmarks/gpu_check.sh [--work-dir DIR] [--out FILE.md] [--cuda cu130|cu128]
#                           [--iters 300] [--python PY] [--peers-python PY]
#                           [--ort-device auto|cuda|cpu] [--cpu-smoke] [--dry-run]
#
# --ort-device: where ONNX Runtime runs (parity, latency). auto (default): CUDA when the
# environment's onnxruntime has the CUDA provider, else the CPU, said in the report.
# Rerunning into the same --work-dir (before its report exists) reuses the finished
# training runs, the data and the exports. A failing peers step is reported, not fatal.
# --cpu-smoke: the same steps on the CPU with the repo's environment (no install), 4
# iterations, tiny data, few timing runs: checks the script, measures nothing useful.
# --dry-run: print the commands of each step instead of running them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/work_dirs/gpu_check"
OUT=""
CUDA=cu130
ITERS=300
PY=""
PEERS_PY="$ROOT/.bench_venv/bin/python"
MODE=cuda
ORT_DEVICE=auto
DRY_RUN=0
ARGV=("$@")
die() { echo "gpu_check.sh: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --work-dir) WORK="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --cuda) CUDA="$2"; shift 2 ;;
    --iters) ITERS="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --peers-python) PEERS_PY="$2"; shift 2 ;;
    --ort-device) ORT_DEVICE="$2"; shift 2 ;;
    --cpu-smoke) MODE=cpu-smoke; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$ITERS" =~ ^[1-9][0-9]*$ ]] || die "--iters must be a positive integer, got $ITERS"
case "$ORT_DEVICE" in auto|cuda|cpu) ;; *) die "--ort-device must be auto, cuda or cpu, got $ORT_DEVICE" ;; esac
run() {
  if [ "$DRY_RUN" = "1" ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
step() { echo "[gpu_check] $(date -u +%H:%M:%S) $*"; }
# done_before FILE WHAT: FILE is left by an earlier run into this work dir (not in a dry run)
done_before() { [ "$DRY_RUN" != "1" ] && [ -f "$1" ] && step "$2: done before ($1), reused"; }

if [ "$MODE" = cpu-smoke ]; then
  DEVICE=cpu; ITERS=4; BATCH=2; WORKERS=0; N_VAL=4; LAT_ITERS=3; LAT_WARMUP=1
  PY="${PY:-$ROOT/.venv/bin/python}"
  SPEED_ARGS=(--quick --batch 2 --no-sweep --models erpose-n,yolov8n-pose); SPEED_BATCH=2
  LOSS_ARGS=(--batches 1,2 --people 0,1 --repeat 1)
else
  DEVICE=cuda; BATCH=32; WORKERS=8; N_VAL=64; LAT_ITERS=200; LAT_WARMUP=30
  SPEED_ARGS=(--batch 32); SPEED_BATCH=32; LOSS_ARGS=(--repeat 10)
fi
N_TRAIN=$(( ITERS * BATCH ))   # one epoch = ITERS iterations
if [ -e "$WORK/gpu_check.md" ] && [ "$DRY_RUN" != "1" ]; then
  die "$WORK/gpu_check.md exists: pass another --work-dir (nothing is overwritten)"
fi
if [ -n "$OUT" ] && [ -e "$OUT" ] && [ "$DRY_RUN" != "1" ]; then
  die "$OUT exists (nothing is overwritten)"
fi
run mkdir -p "$WORK"
NOTES="$WORK/notes.txt"   # lines the report lists under "Notes"
note() { echo "[gpu_check] note: $*"; [ "$DRY_RUN" = "1" ] || echo "$*" >> "$NOTES"; }
[ "$DRY_RUN" = "1" ] || : > "$NOTES"

# 1. environment
if [ -z "$PY" ]; then
  step "install: ERPOSE_CUDA=$CUDA into $WORK/venv"
  run env ERPOSE_VENV="$WORK/venv" ERPOSE_CUDA="$CUDA" bash "$ROOT/tools/install.sh"
  PY="$WORK/venv/bin/python"
fi
[ "$DRY_RUN" = "1" ] || [ -x "$PY" ] || die "$PY: no such python"
if [ "$DEVICE" = cuda ] && [ "$DRY_RUN" != "1" ]; then
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || die "$PY: torch sees no GPU (torch.cuda.is_available() is False); --cpu-smoke runs the CPU steps"
fi
CHECK=("$PY" "$ROOT/benchmarks/gpu_check.py")
run "${CHECK[@]}" env --out "$WORK/env.json"

# 2. data and a test image
DATA="$WORK/data"
if [ ! -f "$DATA/annotations/person_keypoints_val.json" ]; then
  step "synthetic data: $N_TRAIN train / $N_VAL val images"
  run "$PY" "$ROOT/tools/dataset_converters/make_synthetic_coco.py" "$DATA" \
    --num-train "$N_TRAIN" --num-val "$N_VAL" --workers "$(nproc)" --no-progress
fi
IMG="$WORK/people.jpg"
[ -f "$IMG" ] || run "$PY" -c "from erpose_mm.datasets.synthetic.demo import write_demo_image
write_demo_image('$IMG', 640, 480, seed=0, num_people=4)"

# 3. training without / with --amp, evaluation
CFG="$ROOT/configs/erpose/erpose-n_synthetic-256.py"
OPTS=(--cfg-options "data_root=$DATA/" "train_dataloader.dataset.data_root=$DATA/"
      "val_dataloader.dataset.data_root=$DATA/" "test_dataloader.dataset.data_root=$DATA/"
      "val_evaluator.ann_file=$DATA/annotations/person_keypoints_val.json"
      "test_evaluator.ann_file=$DATA/annotations/person_keypoints_val.json"
      "train_dataloader.batch_size=$BATCH" "train_dataloader.num_workers=$WORKERS"
      "train_dataloader.persistent_workers=False" "val_dataloader.num_workers=$WORKERS"
      "val_dataloader.persistent_workers=False" "test_dataloader.num_workers=$WORKERS"
      "test_dataloader.persistent_workers=False" "train_cfg.max_epochs=1"
      "train_cfg.val_interval=1" "default_hooks.logger.interval=10"
      "default_hooks.checkpoint.interval=1" "randomness.seed=0")
RUNS=(fp32 amp)
[ "$DEVICE" = cpu ] && RUNS=(fp32)   # --amp (float16 autocast + loss scaling) is for CUDA
for run_name in "${RUNS[@]}"; do
  flag=(); [ "$run_name" = amp ] && flag=(--amp)
  done_before "$WORK/train_$run_name.json" "train $run_name" && continue
  step "train $run_name: $ITERS iterations, batch $BATCH"
  start=$SECONDS
  run "$PY" "$ROOT/tools/train.py" "$CFG" --work-dir "$WORK/train_$run_name" "${flag[@]}" "${OPTS[@]}"
  wall=$(( SECONDS - start ))
  run "${CHECK[@]}" train-summary "$WORK/train_$run_name" --wall-s "$wall" \
    --out "$WORK/train_$run_name.json"
done
CKPT="$WORK/train_fp32/epoch_1.pth"
step "evaluate $CKPT"
run "$PY" "$ROOT/tools/test.py" "$CFG" "$CKPT" --work-dir "$WORK/test_fp32" "${OPTS[@]}"

# 4. export fp32 / fp16 and parity
if [ "$ORT_DEVICE" = auto ]; then
  ORT_DEVICE=cpu
  if [ "$DEVICE" = cuda ]; then
    if [ "$DRY_RUN" = "1" ] || "$PY" -c "import onnxruntime as o, sys
sys.exit(0 if 'CUDAExecutionProvider' in o.get_available_providers() else 1)"; then
      ORT_DEVICE=cuda
    else
      note "ONNX Runtime ran on the CPU: $("$PY" -c 'import onnxruntime as o; print("onnxruntime", o.__version__, "has providers", o.get_available_providers())') (no CUDA provider: requirements/ort-gpu-cu13.txt or ort-gpu-cu12.txt installs one)"
    fi
  fi
fi
step "export + parity (PyTorch $DEVICE, ONNX Runtime $ORT_DEVICE)"
run "${CHECK[@]}" parity "$CFG" "$CKPT" "$IMG" --out-dir "$WORK/onnx" --device "$DEVICE" \
  --ort-device "$ORT_DEVICE" --out "$WORK/parity.json"

# 5. latency (peers when an Ultralytics environment exists)
PEERS_ARGS=()
if [ -x "$PEERS_PY" ]; then
  step "peers: YOLOv8n-pose / YOLO26n-pose with $PEERS_PY"
  if done_before "$WORK/peers.json" peers; then
    PEERS_ARGS=(--peers-json "$WORK/peers.json")
  elif run env YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$(dirname "$(dirname "$PEERS_PY")")/yolo_config" \
      "$PEERS_PY" "$ROOT/benchmarks/gpu_check.py" peers --out-dir "$WORK/onnx" --device "$DEVICE" \
      --iters "$LAT_ITERS" --warmup "$LAT_WARMUP" --out "$WORK/peers.json"; then
    PEERS_ARGS=(--peers-json "$WORK/peers.json")
  else
    rm -f "$WORK/peers.json"
    note "peers step failed with $PEERS_PY (its output is above in the log): ER-Pose-n timed alone"
  fi
else
  step "no peers python at $PEERS_PY: ER-Pose-n only"
fi
step "latency ($DEVICE)"
run "${CHECK[@]}" latency "$ROOT/configs/erpose/erpose-n_coco-640.py" none --onnx-dir "$WORK/onnx" --device "$DEVICE" \
  --ort-device "$ORT_DEVICE" --iters "$LAT_ITERS" --warmup "$LAT_WARMUP" "${PEERS_ARGS[@]}" --out "$WORK/latency.json"

# 6. the user tools, the training step and the loss (not fatal: each failure is a note)
ONNX16="$WORK/onnx/erpose-n_fp16.onnx"
TABLES=/dev/null; [ "$DRY_RUN" = "1" ] && TABLES=/dev/stdout   # the benchmarks' stdout tables
step "tools/infer.py ($DEVICE), tools/onnx_infer.py ($ORT_DEVICE, fp16 export)"
done_before "$WORK/tools.json" tools || {
  run "${CHECK[@]}" tools "$CFG" "$CKPT" "$ONNX16" "$IMG" --out-dir "$WORK/tools" \
    --device "$DEVICE" --ort-device "$ORT_DEVICE" --out "$WORK/tools.json" \
    || note "the user-tools step failed (its output is above in the log)"
}
SPEED_RUNS=(fp32); [ "$DEVICE" = cuda ] && SPEED_RUNS=(fp32 amp)
for prec in "${SPEED_RUNS[@]}"; do
  flag=(); suffix=""; [ "$prec" = amp ] && flag=(--amp) && suffix=_amp
  stem="train_speed_$([ "$DEVICE" = cpu ] && echo cpu || echo gpu)$suffix"
  step "training step, $prec: benchmarks.train_speed"
  done_before "$WORK/$stem.json" "training step $prec" && continue
  run env PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m benchmarks.train_speed \
    --device "$DEVICE" "${flag[@]}" "${SPEED_ARGS[@]}" \
    --bench-python "$PEERS_PY" --out-dir "$WORK" --suffix "$suffix" \
    --work-dir "$WORK/bench_train" > "$TABLES" \
    || note "benchmarks.train_speed ($prec) failed (its output is above in the log)"
done
step "the loss alone: benchmarks.loss_ops"
done_before "$WORK/loss_ops.md" "loss ops" || {
  run env PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m benchmarks.loss_ops \
    --device "$DEVICE" "${LOSS_ARGS[@]}" \
    --bench-python "$PEERS_PY" --out "$WORK/loss_ops.md" > "$TABLES" \
    || note "benchmarks.loss_ops failed (its output is above in the log)"
}

# 7. report
run "${CHECK[@]}" report --work-dir "$WORK" --mode "$MODE" --speed-batch "$SPEED_BATCH" \
  --out "$WORK/gpu_check.md" -- "${ARGV[@]}"
[ -z "$OUT" ] || run cp "$WORK/gpu_check.md" "$OUT"
step "done: $WORK/gpu_check.md"
