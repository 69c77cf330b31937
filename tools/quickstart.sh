#!/usr/bin/env bash
# Quickstart: install (if needed), make the built-in synthetic data (3000 + 300 images, ~20 s),
# train ER-Pose-n on CPU for 11-13 minutes (6 epochs = 4278 iterations of batch 4 on 2
# quiet cores), evaluate with CocoMetric, plot curves, draw predictions, summarise.
#   bash tools/quickstart.sh [WORK_DIR]      (default work_dirs/quickstart)
# Env: QUICKSTART_EPOCHS (default from the config), QUICKSTART_IMAGES (train images, 3000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${1:-work_dirs/quickstart}"
CFG=configs/erpose/erpose-n_synthetic-256_quickstart.py
DATA=data/synthetic_quickstart    # the config's data_root
NUM_TRAIN="${QUICKSTART_IMAGES:-3000}"
NUM_VAL=300
bash tools/install.sh
PY="${ERPOSE_PYTHON:-$ROOT/.venv/bin/python}"
[ "${ERPOSE_NO_VENV:-0}" = "1" ] && PY="$(command -v python3)"

# (re)make the data when missing or made with other numbers of images
if [ ! -f "$DATA/annotations/person_keypoints_val.json" ] || \
   [ "$(ls "$DATA/train" 2>/dev/null | wc -l)" -ne "$NUM_TRAIN" ] || \
   [ "$(ls "$DATA/val" 2>/dev/null | wc -l)" -ne "$NUM_VAL" ]; then
  rm -rf "$DATA"
  "$PY" tools/dataset_converters/make_synthetic_coco.py "$DATA" --difficulty easy \
      --num-train "$NUM_TRAIN" --num-val "$NUM_VAL" --min-size 256 --max-size 320 --seed 0 \
      --workers 2
fi
EXTRA=()
# a different length also moves the end of the cosine schedule (param_scheduler[1])
[ -n "${QUICKSTART_EPOCHS:-}" ] && EXTRA=(--cfg-options "train_cfg.max_epochs=$QUICKSTART_EPOCHS"
    "param_scheduler.1.end=$QUICKSTART_EPOCHS")
# --resume continues a run of this recipe; a work dir left by another recipe (another config,
# an earlier version of this one, other QUICKSTART_* settings) would be resumed past its end
# and its old model reported: refuse instead. The recipe: the resolved config + settings.
RECIPE=$("$PY" -W ignore -c 'import hashlib, json, sys
from mmengine.config import Config
text = json.dumps([Config.fromfile(sys.argv[1]).to_dict(), sys.argv[2:]], sort_keys=True, default=str)
print(hashlib.sha256(text.encode()).hexdigest()[:16])' "$CFG" "$NUM_TRAIN" "${QUICKSTART_EPOCHS:-}")
if [ -f "$WORK/last_checkpoint" ] && \
   [ "$(cat "$WORK/quickstart_recipe" 2>/dev/null)" != "$RECIPE" ]; then
  echo "quickstart: error: $WORK holds a run of another recipe; pass another WORK_DIR or remove it" >&2
  exit 2
fi
mkdir -p "$WORK"
echo "$RECIPE" > "$WORK/quickstart_recipe"
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
