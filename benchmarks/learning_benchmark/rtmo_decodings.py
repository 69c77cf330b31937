"""Diagnostic: score an RTMO checkpoint with its own keypoint decoding (the coordinate
classifier, DCC) and with its regression branch's keypoints instead (same boxes, scores and
NMS). Tells a DCC that has not converged from a broken setup: the regression branch is
trained from the same targets and frames, so if it lands on people the data are right.

    .venv/bin/python -m benchmarks.learning_benchmark.rtmo_decodings CONFIG CKPT GT_JSON

CONFIG: the config a worker dumped next to its checkpoint (``rows/<row>/train/*.py``);
GT_JSON: the COCO keypoint file the checkpoint's test set uses. Prints AP / AP50 / AR (x100).
"""
import sys
import types
from typing import Dict

import numpy as np
import torch


def score_decodings(config: str, checkpoint: str, gt_json: str) -> Dict[str, Dict[str, float]]:
    """``{'dcc': scores, 'regression': scores}`` over the config's test set."""
    import erpose_mm  # noqa: F401  (registers the ER-Pose modules)
    from erpose_mm.compat import apply_stack_adapters
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpose.registry import DATASETS, MODELS

    from benchmarks.learning_benchmark.scoring import score_keypoints
    apply_stack_adapters()  # MMEngine checkpoints on torch >= 2.6 (weights_only)
    cfg = Config.fromfile(config)
    init_default_scope('mmpose')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    head = model.head
    # the head module computes the regression offsets only when its own flag says training;
    # its children (BN) stay in eval mode
    head.head_module.training = True
    forward, dcc_test = head.forward, head.dcc.forward_test
    state = dict(use_regression=False, image=0, offsets=None)

    def forward_keeping_offsets(self, feats):
        out = forward(feats)
        state['offsets'] = out[2]
        return out

    def keypoints_of_kept_priors(pose_vecs, bbox_cs, grids):
        kpts = dcc_test(pose_vecs, bbox_cs, grids)
        if state['use_regression'] and len(grids):
            priors = torch.cat(head.mlvl_priors)
            strides = torch.cat([p.new_full((len(p),), s) for p, s in
                                 zip(head.mlvl_priors, head.featmap_strides)])
            off = head._flatten_predictions(state['offsets'])[state['image']]
            decoded = head.decode_kpt_reg(off[None], priors, strides)[0]
            idx = torch.cdist(grids[:, :2], priors[:, :2]).argmin(1)  # kept prior -> index
            kpts = decoded[idx]
        return kpts

    head.forward = types.MethodType(forward_keeping_offsets, head)
    head.dcc.forward_test = keypoints_of_kept_priors
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    out = {}
    for name in ('dcc', 'regression'):
        state['use_regression'] = name == 'regression'
        results = []
        for i in range(len(ds)):
            state['image'] = 0  # one image per batch
            with torch.no_grad():
                sample = model.test_step(pseudo_collate([ds[i]]))[0]
            inst = sample.pred_instances
            for k, s in zip(inst.keypoints, inst.scores):
                kk = np.concatenate([k, np.ones((len(k), 1))], 1).reshape(-1).tolist()
                results.append(dict(image_id=sample.img_id, category_id=1, keypoints=kk,
                                    score=float(s)))
        out[name] = score_keypoints(gt_json, results, crowd=False)
    return out


if __name__ == '__main__':
    for name, s in score_decodings(*sys.argv[1:4]).items():
        print(f"{name:10s} " + '  '.join(f'{k} {100 * s[k]:.1f}' for k in ('AP', 'AP50', 'AR')))
