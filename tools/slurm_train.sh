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
WORK_DIR=$4
exec "$(dirname "$0")/slurm_launch.sh" train.py "$1" "$2" "$3" --work-dir="$WORK_DIR" \
    --launcher="slurm" "${@:5}"
