#!/usr/bin/env bash
# What tools/dist_train.sh and tools/dist_test.sh share: torchrun with NUM_PROCS processes on
# this node, each running tools/SCRIPT with the given arguments. Not meant to be called directly.
#   [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] [PYTHON=...] \
#       tools/dist_launch.sh SCRIPT NUM_PROCS [SCRIPT args]
# Without GPUs the processes use the gloo backend and CPU DDP (erpose_mm/compat.py).
set -e
SCRIPT=$1
NPROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${PYTHON:-}" ]; then  # the repo's .venv unless a venv is active or PYTHON is set
  PYTHON=python
  [ -x "$DIR/../.venv/bin/python" ] && [ -z "${VIRTUAL_ENV:-}" ] && PYTHON="$DIR/../.venv/bin/python"
fi
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} \
PYTHONPATH="$DIR/..":$PYTHONPATH \
$PYTHON -m torch.distributed.run \
    --nnodes=$NNODES --node_rank=$NODE_RANK --master_addr=$MASTER_ADDR \
    --nproc_per_node=$NPROCS --master_port=$PORT \
    "$DIR/$SCRIPT" "${@:3}"
