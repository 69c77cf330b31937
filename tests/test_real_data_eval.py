"""tools/test.py with a random-weight ER-Pose-n on the small real COCO / CrowdPose / OCHuman
samples in ../shared/data: the configs and metrics must run end to end on real annotations
(CrowdPose: 14 keypoints, no ``area``, AP(E)/AP(M)/AP(H) via 'keypoints_crowd')."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

import erpose_mm  # noqa: F401  (registers modules, applies the compat shims before mmpose.apis)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG_DIR = osp.join(REPO, 'configs/erpose')
COCO_CFG = osp.join(CFG_DIR, 'erpose-n_coco-640.py')
CROWDPOSE_CFG = osp.join(CFG_DIR, 'erpose-n_crowdpose-640.py')
OCHUMAN_CFG = osp.join(CFG_DIR, 'erpose-n_coco-640_ochuman.py')

# sub-folder and annotation file of each sample set in ../shared/data
SETS = dict(coco=('coco', 'test_coco.json'), crowdpose=('crowdpose', 'test_crowdpose.json'),
            ochuman=('ochuman', 'test_ochuman.json'))


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    """Random-weight ER-Pose-n checkpoints: 17 keypoints (COCO) and 14 (CrowdPose)."""
    from mmengine.registry import init_default_scope
    from mmpose.apis import init_model
    init_default_scope('mmpose')
    root = tmp_path_factory.mktemp('real_eval_ckpts')
    out = {}
    for k, cfg in ((17, COCO_CFG), (14, CROWDPOSE_CFG)):
        torch.manual_seed(0)
        model = init_model(cfg, None, device='cpu')
        assert model.head.num_keypoints == k
        path = str(root / f'erpose-n_random_k{k}.pth')
        torch.save({'state_dict': model.state_dict(),
                    'meta': {'dataset_meta': model.dataset_meta}}, path)
        out[k] = path
    return out


def _data_opts(shared_data, name):
    folder, ann = SETS[name]
    root = osp.join(shared_data, folder) + '/'
    if not osp.isfile(root + ann):
        pytest.skip(f'{root + ann} is not available')
    return ['--cfg-options', f'test_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.ann_file={ann}',
            'test_dataloader.dataset.data_prefix.img=',       # images sit next to the json
            f'test_evaluator.ann_file={root + ann}',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
            # random weights score below the default 0.01: keep the top-k so that the
            # metric really scores predictions (and their keypoint count)
            'model.test_cfg.score_thr=0.0']


def _test(cfg, ckpt, opts, tmp_path, ok=True):
    args = [sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir', str(tmp_path / 'work'),
            '--out-json', str(tmp_path / 'preds'), *opts]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    p = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    out = p.stdout + p.stderr
    if ok:
        assert p.returncode == 0, out[-6000:]
    return p.returncode, out


def _metrics(out, prefix):
    """The final `Epoch(test)` line's metrics as a dict."""
    lines = [ln for ln in out.splitlines() if 'Epoch(test)' in ln and f'{prefix}/AP' in ln]
    assert lines, f'no {prefix}/AP in the output:\n' + out[-4000:]
    return {k: float(v) for k, v in re.findall(rf'({prefix}/[^:]+):\s+(-?[\d.]+)', lines[-1])}


def _check_preds(tmp_path, num_keypoints, image_ids):
    preds = json.load(open(str(tmp_path / 'preds') + '.keypoints.json'))
    assert preds, 'no predictions were scored'
    assert {p['image_id'] for p in preds} == set(image_ids)
    assert all(len(p['keypoints']) == 3 * num_keypoints for p in preds)


def _image_ids(shared_data, name):
    folder, ann = SETS[name]
    return [im['id'] for im in json.load(open(osp.join(shared_data, folder, ann)))['images']]


def test_coco_samples(shared_data, ckpts, tmp_path):
    _, out = _test(COCO_CFG, ckpts[17], _data_opts(shared_data, 'coco'), tmp_path)
    m = _metrics(out, 'coco')
    for key in ('coco/AP', 'coco/AP .5', 'coco/AP .75', 'coco/AP (M)', 'coco/AP (L)', 'coco/AR'):
        assert key in m, (key, m)
    assert 0.0 <= m['coco/AP'] <= 1.0
    assert 'Epoch(test) [4/4]' in out
    _check_preds(tmp_path, 17, _image_ids(shared_data, 'coco'))


def test_crowdpose_samples(shared_data, ckpts, tmp_path):
    """14 keypoints, no `area`: CocoMetric(iou_type='keypoints_crowd', use_area=False)."""
    _, out = _test(CROWDPOSE_CFG, ckpts[14], _data_opts(shared_data, 'crowdpose'), tmp_path)
    assert 'keypoints_crowd' in out
    m = _metrics(out, 'crowdpose')
    for key in ('crowdpose/AP', 'crowdpose/AP .5', 'crowdpose/AP .75', 'crowdpose/AR',
                'crowdpose/AP(E)', 'crowdpose/AP(M)', 'crowdpose/AP(H)'):
        assert key in m, (key, m)
    assert 0.0 <= m['crowdpose/AP'] <= 1.0
    # both sample images have crowdIndex 0.33 / 0.39: medium (easy < 0.1, hard > 0.8)
    assert 0.0 <= m['crowdpose/AP(M)'] <= 1.0
    assert m['crowdpose/AP(E)'] == -1.0 and m['crowdpose/AP(H)'] == -1.0
    _check_preds(tmp_path, 14, _image_ids(shared_data, 'crowdpose'))


def test_ochuman_samples(shared_data, ckpts, tmp_path):
    _, out = _test(OCHUMAN_CFG, ckpts[17], _data_opts(shared_data, 'ochuman'), tmp_path)
    m = _metrics(out, 'ochuman')
    for key in ('ochuman/AP', 'ochuman/AP .5', 'ochuman/AP .75', 'ochuman/AR'):
        assert key in m, (key, m)
    assert 0.0 <= m['ochuman/AP'] <= 1.0
    _check_preds(tmp_path, 17, _image_ids(shared_data, 'ochuman'))


def test_17_keypoint_model_on_crowdpose_with_coco_config_fails_clearly(
        shared_data, ckpts, tmp_path):
    """KeypointCountCheckHook stops the run before inference, naming both counts."""
    rc, out = _test(COCO_CFG, ckpts[17], _data_opts(shared_data, 'crowdpose'), tmp_path,
                    ok=False)
    assert rc != 0
    assert 'ValueError' in out
    assert 'the annotations define 14 keypoints per person' in out
    assert 'num_keypoints=17' in out
    assert 'test_crowdpose.json' in out
    assert 'Epoch(test)' not in out


def test_17_keypoint_checkpoint_with_crowdpose_config_fails_clearly(shared_data, ckpts, tmp_path):
    rc, out = _test(CROWDPOSE_CFG, ckpts[17], _data_opts(shared_data, 'crowdpose'), tmp_path,
                    ok=False)
    # MMEngine's loader only warns on shape mismatches; tools/test.py refuses instead
    assert rc != 0 and 'does not fit' in out and re.search(r'51.*42|42.*51', out[-3000:]), out[-3000:]
    assert 'Epoch(test)' not in out
