#!/usr/bin/env bash
# Quickstart: install (if needed), make the built-in synthetic data, train ER-Pose-n on CPU
# for about 10 minutes (20 epochs = 1440 iterations on 2 quiet cores), evaluate with
# CocoMetric, plot curves, draw predictions, summarise.
#   bash tools/quickstart.sh [WORK_DIR]      (default work_dirs/quickstart)
# Env: QUICKSTART_EPOCHS (default from the config), QUICKSTART_IMAGES (train images, 600).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${1:-work_dirs/quickstart}"
CFG=configs/erpose/erpose-n_synthetic-256.py
DATA=data/synthetic
bash tools/install.sh
PY="${ERPOSE_PYTHON:-$ROOT/.venv/bin/python}"
[ "${ERPOSE_NO_VENV:-0}" = "1" ] && PY="$(command -v python3)"

if [ ! -f "$DATA/annotations/person_keypoints_val.json" ]; then
  "$PY" tools/dataset_converters/make_synthetic_coco.py "$DATA" --difficulty easy \
      --num-train "${QUICKSTART_IMAGES:-600}" --num-val 60 --min-size 256 --max-size 416 --seed 0
fi
EXTRA=()
# a different length also moves the end of the cosine schedule (param_scheduler[1])
[ -n "${QUICKSTART_EPOCHS:-}" ] && EXTRA=(--cfg-options "train_cfg.max_epochs=$QUICKSTART_EPOCHS"
    "param_scheduler.1.end=$QUICKSTART_EPOCHS" "param_scheduler.1.T_max=$((QUICKSTART_EPOCHS - 1))")
# idle OpenMP threads sleep instead of spinning: keeps 2-thread training fast when
# the machine is busy with other work
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
START=$(date +%s)
# --resume: re-running the quickstart continues an interrupted run instead of restarting
"$PY" tools/train.py "$CFG" --work-dir "$WORK" --resume "${EXTRA[@]}"
TRAIN_S=$(( $(date +%s) - START ))
CKPT="$(ls -t "$WORK"/best_coco_AP_epoch_*.pth 2>/dev/null | head -1)"
[ -n "$CKPT" ] || CKPT="$WORK/$(cat "$WORK/last_checkpoint" | xargs basename)"
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$WORK/test" --out-json "$WORK/test/preds" \
    > "$WORK/test.log" 2>&1 || { tail -30 "$WORK/test.log"; exit 1; }
"$PY" tools/analysis/quickstart_report.py "$CFG" "$CKPT" --work-dir "$WORK" \
    --test-log "$WORK/test.log" --train-seconds "$TRAIN_S"
