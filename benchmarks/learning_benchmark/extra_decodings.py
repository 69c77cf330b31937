"""Score more decodings of learning-benchmark runs' last checkpoints, after the fact: e.g. the
SAH with the optional parallel OKS dedupe, beside the decodings the benchmark ran itself.

    .venv/bin/python -m benchmarks.learning_benchmark.extra_decodings ROW_DIR [ROW_DIR ...] \\
        --decoding dedupe-0.8=model.test_cfg.dedupe_thr=0.8 [--decoding NAME=KEY=VALUE[,KEY=VALUE]] \\
        [--with own,mah-nms] [--json OUT.json]

Each decoding is config options merged into the run's own config (``mm_worker.build_mm_cfg``
from its ``spec.json``), tested with MMPose's test loop on the run's val images and scored
like every row (``sah_diagnostics.score_file``: AP per split, duplicates at score 0.1 / 0.3,
TP-vs-rest AUC). ``--with`` adds the run's own saved predictions of those decodings.
"""
import argparse
import copy
import json
import os.path as osp
from typing import Dict, List


def parse_decoding(text: str) -> tuple:
    """``'NAME=KEY=VALUE[,KEY=VALUE]'`` -> (NAME, {KEY: VALUE}) with VALUE as JSON if it parses."""
    name, _, opts = text.partition('=')
    out = {}
    for part in filter(None, opts.split(',')):
        key, _, value = part.partition('=')
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    if not name or not out:
        raise SystemExit(f'--decoding {text!r}: expected NAME=KEY=VALUE[,KEY=VALUE]')
    return name, out


def decode_run(row_dir: str, decodings: Dict[str, dict], with_saved: List[str]) -> Dict[str, dict]:
    from mmengine.runner import Runner

    from erpose_mm.compat import apply_stack_adapters
    from benchmarks.learning_benchmark.mm_worker import build_mm_cfg
    from benchmarks.learning_benchmark.sah_diagnostics import score_file
    apply_stack_adapters()  # MMEngine checkpoints on torch >= 2.6 (the row's epoch_N.pth)
    spec = json.load(open(osp.join(row_dir, 'spec.json')))
    cfg, _ = build_mm_cfg(spec, 1)
    last = spec['budget']['epochs']
    ckpt = osp.join(row_dir, 'train', f'epoch_{last}.pth')
    out = {}
    for name in with_saved:
        path = osp.join(row_dir, f'preds_{name}_e{last}.keypoints.json')
        if osp.isfile(path):
            out[name] = score_file(spec['data_root'], path)
    for name, opts in decodings.items():
        dcfg = copy.deepcopy(cfg)
        dcfg.merge_from_dict(opts)
        dcfg.load_from = ckpt
        prefix = osp.join(row_dir, f'preds_{name}_e{last}')
        dcfg.test_evaluator.outfile_prefix = prefix
        dcfg.work_dir = osp.join(row_dir, 'extra_test')
        Runner.from_cfg(dcfg).test()
        out[name] = score_file(spec['data_root'], prefix + '.keypoints.json')
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('row_dirs', nargs='+')
    p.add_argument('--decoding', action='append', default=[], type=parse_decoding)
    p.add_argument('--with', dest='with_saved', default='own,mah-nms')
    p.add_argument('--json', help='write {row: {decoding: {split: scores}}} here')
    a = p.parse_args()
    import torch
    torch.set_num_threads(1)
    import erpose_mm  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    report = {}
    for row_dir in a.row_dirs:
        name = osp.basename(row_dir.rstrip('/'))
        report[name] = decode_run(row_dir, dict(a.decoding), a.with_saved.split(','))
        print(json.dumps({name: report[name]}), flush=True)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
