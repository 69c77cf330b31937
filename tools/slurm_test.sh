#!/usr/bin/env bash
# Evaluation on a Slurm cluster, as MMPose ships it: one srun task per GPU, each running
# tools/test.py --launcher slurm (gloo on CPU-only nodes, erpose_mm/compat.py).
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#       tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
#
# e.g. GPUS=4 tools/slurm_test.sh gpu erpose-s-test configs/erpose/erpose-s_coco-640.py \
#          work_dirs/erpose-s_coco-640/best_coco_AP_epoch_600.pth --out-json work_dirs/s/preds
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=...] $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]" >&2
  exit 2
fi
CHECKPOINT=$4
[ -f "$CHECKPOINT" ] || { echo "error: $CHECKPOINT: checkpoint not found" >&2; exit 2; }
exec "$(dirname "$0")/slurm_launch.sh" test.py "$1" "$2" "$3" "$CHECKPOINT" \
    --launcher="slurm" "${@:5}"
