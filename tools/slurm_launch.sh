#!/usr/bin/env bash
# What tools/slurm_train.sh and tools/slurm_test.sh share: srun with one task per GPU, each
# running tools/SCRIPT --launcher=slurm. Not meant to be called directly.
#
#   [GPUS=8] [GPUS_PER_NODE=min(GPUS, 8)] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] [PYTHON=...] \
#       tools/slurm_launch.sh SCRIPT PARTITION JOB_NAME CONFIG [SCRIPT args]
set -euo pipefail
SCRIPT=$1
PARTITION=$2
JOB_NAME=$3
CONFIG=$4
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
    "$PYTHON" -u "$DIR/$SCRIPT" "$CONFIG" "${@:5}"
