"""Where does the SAH's decoding lose against MAH + OKS-NMS: in its scores or in its poses?

Re-decodes learning-benchmark runs' last checkpoints with per-cell mixes of the two heads'
outputs (no training), scored like every row (``sah_diagnostics.score_file``):

* ``sah-pose-mah``: the SAH's confidence (its top-k, no NMS), the MAH's keypoints and
  visibilities at the same cells: is the SAH's pose worse?
* ``fuse-A``: score ``p_sah^A * p_mah^(1-A)`` per cell, the SAH's keypoints: does the MAH's
  confidence rank the SAH's own cells better (A = 1 is the SAH as deployed)?

    .venv/bin/python -m benchmarks.learning_benchmark.sah_mixing ROW_DIR [ROW_DIR ...] \\
        [--mix sah-pose-mah,fuse-0.5,fuse-0.75] [--dedupe 0.5] [--json OUT.json]

``--dedupe THR`` also scores each mix with the SAH's opt-in parallel OKS dedupe
(``test_cfg.dedupe_thr``) as ``MIX+dedupe``.

An analysis tool: the mixes keep the MAH at inference, which the deployed model does not.
"""
import argparse
import json
import os.path as osp

MIXES = ('sah-pose-mah', 'fuse-0.25', 'fuse-0.5', 'fuse-0.75')


def patch_head(mix: str) -> None:
    """Make ``ERPoseHead.dense_outputs(feats, 'one2one')`` return the mix ``mix``."""
    import torch

    from erpose_mm.models.heads.erpose_head import ERPoseHead
    if not hasattr(ERPoseHead, '_plain_dense_outputs'):
        ERPoseHead._plain_dense_outputs = ERPoseHead.dense_outputs

    def dense_outputs(self, feats, branch='one2one'):
        sah = ERPoseHead._plain_dense_outputs(self, feats, branch)
        if branch != 'one2one':
            return sah
        mah = ERPoseHead._plain_dense_outputs(self, feats, 'one2many')
        if mix == 'sah-pose-mah':
            return dict(sah, keypoints=mah['keypoints'], vis_logits=mah['vis_logits'])
        a = float(mix.split('-')[1])
        p = torch.sigmoid(sah['conf_logits']) ** a * torch.sigmoid(mah['conf_logits']) ** (1 - a)
        return dict(sah, conf_logits=torch.logit(p.clamp(1e-6, 1 - 1e-6)))
    ERPoseHead.dense_outputs = dense_outputs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('row_dirs', nargs='+')
    p.add_argument('--mix', default=','.join(MIXES))
    p.add_argument('--dedupe', type=float, help='also score each mix with test_cfg.dedupe_thr')
    p.add_argument('--json', help='write {row: {mix: scores}} here')
    a = p.parse_args()
    import torch
    torch.set_num_threads(1)
    import erpose_mm  # noqa: F401
    from mmengine.registry import init_default_scope

    from benchmarks.learning_benchmark.extra_decodings import decode_run
    init_default_scope('mmpose')
    report = {}
    for row_dir in a.row_dirs:
        name = osp.basename(row_dir.rstrip('/'))
        report[name] = decode_run(row_dir, {}, ['own', 'mah-nms-0.7'])
        for mix in a.mix.split(','):
            if mix not in MIXES:
                raise SystemExit(f'--mix {mix!r}: expected one of {MIXES}')
            patch_head(mix)
            decodings = {mix: {'model.test_cfg.score_thr': 0.01}}
            if a.dedupe is not None:
                decodings[f'{mix}+dedupe'] = {'model.test_cfg.score_thr': 0.01,
                                              'model.test_cfg.dedupe_thr': a.dedupe}
            report[name].update(decode_run(row_dir, decodings, []))
        print(json.dumps({name: report[name]}), flush=True)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
