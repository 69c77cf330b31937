"""tools/dist_train.sh / dist_test.sh: the torchrun command lines they build (PYTHON=echo
prints the command instead of running it)."""
import os
import subprocess

import pytest

CFG = 'configs/erpose/erpose-n_coco-640.py'


def _cmd(*args, **env):
    res = subprocess.run(['bash', *args], capture_output=True, text=True,
                         env=dict(os.environ, PYTHON='echo', **env), check=True)
    return res.stdout.split()


@pytest.mark.parametrize('env, nodes', [({}, ('1', '0', '127.0.0.1', '29500')),
                                        (dict(NNODES='2', NODE_RANK='1', MASTER_ADDR='10.0.0.5',
                                              PORT='29600'), ('2', '1', '10.0.0.5', '29600'))])
def test_dist_train_and_test_command_lines(env, nodes):
    nnodes, rank, addr, port = nodes
    torchrun = ['-m', 'torch.distributed.run', f'--nnodes={nnodes}', f'--node_rank={rank}',
                f'--master_addr={addr}', '--nproc_per_node=4', f'--master_port={port}']
    train = _cmd('tools/dist_train.sh', CFG, '4', '--resume', '--amp', **env)
    assert train[:7] == torchrun
    assert train[7].endswith('tools/train.py')
    assert train[8:] == [CFG, '--launcher', 'pytorch', '--resume', '--amp']
    test = _cmd('tools/dist_test.sh', CFG, 'w.pth', '4', '--out-json', 'p', **env)
    assert test[:7] == torchrun
    assert test[7].endswith('tools/test.py')
    assert test[8:] == [CFG, 'w.pth', '--launcher', 'pytorch', '--out-json', 'p']
