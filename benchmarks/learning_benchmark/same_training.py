"""Does another copy of the code train ER-Pose-n exactly as this one? Builds the quickstart
model from a seed with each copy of ``erpose_mm`` / ``configs/erpose`` (e.g. a benchmark code
snapshot under ``work_dirs/learning_benchmark/code/`` and the working tree), checks the two
initial weights are equal, then compares losses and gradient norms of a few training batches
of the benchmark data with the same weights.

    .venv/bin/python -m benchmarks.learning_benchmark.same_training CODE_A CODE_B [DATA_ROOT]

Prints one line per batch and code copy; exits 1 when anything differs. The benchmark data
(``DATA_ROOT``, default ``work_dirs/learning_benchmark/data/``) must exist.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

CONFIG = 'configs/erpose/erpose-n_synthetic-256_quickstart.py'


def _child(code: str, data_root: str, weights: str) -> None:
    """Runs with ``code`` first on sys.path; prints a JSON line per batch."""
    import random

    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS, MODELS

    import erpose_mm  # noqa: F401
    assert osp.dirname(osp.dirname(erpose_mm.__file__)) == code, erpose_mm.__file__
    cfg = Config.fromfile(osp.join(code, CONFIG))
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if osp.exists(weights):
        ref = torch.load(weights)
        same = list(ref) == list(model.state_dict()) and all(
            torch.equal(ref[k], v) for k, v in model.state_dict().items())
        print(json.dumps(dict(same_init=same)))
        model.load_state_dict(ref, strict=True)
    else:
        torch.save(model.state_dict(), weights)
    model.train()
    ds = DATASETS.build(dict(type='CocoDataset', data_root=data_root, data_mode='bottomup',
                             ann_file='annotations/person_keypoints_train.json',
                             data_prefix=dict(img='train/'),
                             pipeline=cfg.train_dataloader.dataset.pipeline))
    for start in (0, 40, 80):
        torch.manual_seed(start)
        random.seed(start)
        np.random.seed(start)
        data = model.data_preprocessor(pseudo_collate([ds[i] for i in range(start, start + 4)]),
                                       True)
        model.zero_grad()
        losses = model.loss(data['inputs'], data['data_samples'])
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        gn = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in model.parameters()
                            if p.grad is not None))
        print(json.dumps(dict(batch=start, grad_norm=float(gn),
                              **{k: float(v) for k, v in sorted(losses.items())})))


def _same_row(ra: dict, rb: dict) -> bool:
    """Equal losses, gradient norm and counts where both copies log them; a value only one
    copy logs is a difference only if it is a loss (a logged diagnostic enters no loss)."""
    return all(ra[k] == rb[k] for k in ra.keys() & rb.keys()) and \
        not any(k.startswith('loss') for k in ra.keys() ^ rb.keys())


def main(a: str, b: str, data_root: str) -> int:
    outs = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights = osp.join(tmp, 'init.pth')
        for code in (a, b):
            env = dict(os.environ, PYTHONPATH=code, OMP_NUM_THREADS='1')
            # this file run as a script: the copy under test need not contain it
            p = subprocess.run([sys.executable, osp.abspath(__file__), '--child', code,
                                data_root, weights], env=env, cwd=tmp, capture_output=True,
                               text=True)
            if p.returncode:
                print(p.stderr[-3000:], file=sys.stderr)
                return 2
            outs[code] = [json.loads(line) for line in p.stdout.splitlines()
                          if line.startswith('{')]
            for line in outs[code]:
                print(osp.basename(code.rstrip('/')), line)
    rows_a, rows_b = outs[a], [o for o in outs[b] if 'same_init' not in o]
    same = len(rows_a) == len(rows_b) and all(map(_same_row, rows_a, rows_b)) and \
        all(o.get('same_init', True) for o in outs[b])
    print('same training' if same else 'DIFFERENT')
    return 0 if same else 1


if __name__ == '__main__':
    if sys.argv[1] == '--child':
        _child(*sys.argv[2:5])
        sys.exit(0)
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    default_data = osp.join(root, 'work_dirs', 'learning_benchmark', 'data') + '/'
    args = [osp.abspath(x) for x in sys.argv[1:3]]
    sys.exit(main(args[0], args[1], sys.argv[3] if len(sys.argv) > 3 else default_data))
