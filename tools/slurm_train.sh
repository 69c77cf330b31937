#!/usr/bin/env bash
# Training on a Slurm cluster, as MMPose ships it: one srun task per GPU, each running
# tools/train.py --launcher slurm (MMEngine reads SLURM_PROCID / SLURM_NTASKS /
# SLURM_NODELIST; without GPUs the tasks use gloo and CPU DDP, erpose_mm/compat.py).
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#       tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
#
# e.g. GPUS=16 tools/slurm_train.sh gpu erpose-s configs/erpose/erpose-s_coco-640.py \
#          work_dirs/erpose-s_coco-640 --resume
# GPUS is the total number of tasks (= GPUs); more than GPUS_PER_NODE spans several nodes.
# Each task sees all GPUs of its node and takes GPU SLURM_LOCALID. Set PYTHON to the
# interpreter of your environment (default: python, or the repo's .venv when no venv is
# active).
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=...] $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
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

# SRUN_ARGS is split into words on purpose (several srun options in one variable)
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
    "$PYTHON" -u "$DIR/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher="slurm" "${@:5}"
