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
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
DIR="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python
  [ -x "$DIR/../.venv/bin/python" ] && [ -z "${VIRTUAL_ENV:-}" ] && PYTHON="$DIR/../.venv/bin/python"
fi
[ -f "$CONFIG" ] || { echo "error: $CONFIG: config not found" >&2; exit 2; }
[ -f "$CHECKPOINT" ] || { echo "error: $CHECKPOINT: checkpoint not found" >&2; exit 2; }

# shellcheck disable=SC2086
PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher="slurm" "${@:5}"
