#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG NUM_PROCS [train.py args]
# (multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT). On a machine without GPUs the processes
# use the gloo backend and CPU DDP (erpose_mm/compat.py), so `tools/dist_train.sh CFG 2` also
# works on a laptop.
set -e
exec "$(dirname "$0")/dist_launch.sh" train.py "$2" "$1" --launcher pytorch "${@:3}"
