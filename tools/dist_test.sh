#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args]
# (multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT). Without GPUs the processes use the gloo
# backend (erpose_mm/compat.py).
set -e
exec "$(dirname "$0")/dist_launch.sh" test.py "$3" "$1" "$2" --launcher pytorch "${@:4}"
