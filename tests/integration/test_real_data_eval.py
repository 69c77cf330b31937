"""Evaluation on real annotation files: the COCO / CrowdPose / OCHuman configs' metrics
(CrowdPose: 14 keypoints, no ``area``, AP(E)/AP(M)/AP(H) via 'keypoints_crowd').

The small real samples of ../shared/data are used when present; otherwise synthetic
stand-ins in the same formats (COCO and OCHuman: the synthetic generator's annotations;
CrowdPose: those mapped to its 14 keypoints, with a crowd index per image).

* tools/test.py end to end with a random-weight ER-Pose-n: the logged metrics equal an
  independent xtcocotools evaluation of the dumped predictions;
* each config's evaluator, fed the annotations themselves as predictions, scores AP 1,
  and less when the keypoints are moved or a person is left out.
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import erpose_mm  # noqa: F401  (registers modules, applies the compat shims before mmpose.apis)
from conftest import shared_path
from erpose_mm.datasets import generate_synthetic_coco

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join(REPO, 'configs/erpose')
CFGS = dict(coco=osp.join(CFG_DIR, 'erpose-n_coco-640.py'),
            crowdpose=osp.join(CFG_DIR, 'erpose-n_crowdpose-640.py'),
            ochuman=osp.join(CFG_DIR, 'erpose-n_coco-640_ochuman.py'))
# sub-folder of ../shared/data and annotation file of each sample set
SETS = dict(coco=('coco', 'test_coco.json'), crowdpose=('crowdpose', 'test_crowdpose.json'),
            ochuman=('ochuman', 'test_ochuman.json'))
PREFIX = dict(coco='coco', crowdpose='crowdpose', ochuman='ochuman')

# CrowdPose's keypoints from COCO's: 12 limb joints, 'head' ~ nose, 'neck' ~ mid-shoulders
CROWDPOSE_FROM_COCO = (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, None)
CROWDPOSE_NAMES = ['left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
                   'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
                   'right_knee', 'left_ankle', 'right_ankle', 'head', 'neck']


def _to_crowdpose(data):
    """A synthetic COCO person-keypoints file in CrowdPose's format (no areas)."""
    for im in data['images']:
        im['crowdIndex'] = 0.3          # medium, as both real samples (0.33 / 0.39)
    for a in data['annotations']:
        k = np.asarray(a['keypoints'], np.float64).reshape(17, 3)
        out = np.zeros((14, 3))
        for i, j in enumerate(CROWDPOSE_FROM_COCO):
            if j is not None:
                out[i] = k[j]
            elif k[5, 2] > 0 and k[6, 2] > 0:
                out[i] = [*((k[5, :2] + k[6, :2]) / 2), min(k[5, 2], k[6, 2])]
        a['keypoints'] = [float(v) if i % 3 != 2 else int(v)
                          for i, v in enumerate(out.reshape(-1))]
        a['num_keypoints'] = int((out[:, 2] > 0).sum())
        a.pop('area', None)
        a.pop('segmentation', None)
    data['categories'] = [dict(supercategory='person', id=1, name='person',
                               keypoints=CROWDPOSE_NAMES, skeleton=[])]
    return data


def _synthetic_set(root, name, ann, seed):
    """Three synthetic images with their annotation file ``root/ann`` (images listed
    relative to ``root``, as in the real samples)."""
    res = generate_synthetic_coco(str(root), num_train=3, num_val=0, seed=seed,
                                  min_size=256, max_size=384, difficulty='medium',
                                  crowd_prob=0.0, empty_frac=0.0, progress=False)
    data = json.load(open(res['train']['ann_file']))
    for im in data['images']:
        im['file_name'] = 'train/' + im['file_name']
    if name == 'crowdpose':
        data = _to_crowdpose(data)
    with open(osp.join(str(root), ann), 'w') as f:
        json.dump(data, f)
    return str(root) + '/'


@pytest.fixture(scope='module')
def eval_sets(tmp_path_factory):
    """name -> (data root ending in '/', annotation file name)."""
    sets = {}
    for seed, (name, (folder, ann)) in enumerate(SETS.items()):
        root = shared_path('data', folder)
        if root is None or not osp.isfile(osp.join(root, ann)):
            root = _synthetic_set(tmp_path_factory.mktemp(name), name, ann, seed)
        sets[name] = (osp.join(root, ''), ann)
    return sets


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    """Random-weight ER-Pose-n checkpoints: 17 keypoints (COCO) and 14 (CrowdPose)."""
    from mmengine.registry import init_default_scope
    from mmpose.apis import init_model
    init_default_scope('mmpose')
    root = tmp_path_factory.mktemp('real_eval_ckpts')
    out = {}
    for k, cfg in ((17, CFGS['coco']), (14, CFGS['crowdpose'])):
        torch.manual_seed(0)
        model = init_model(cfg, None, device='cpu')
        assert model.head.num_keypoints == k
        path = str(root / f'erpose-n_random_k{k}.pth')
        torch.save({'state_dict': model.state_dict(),
                    'meta': {'dataset_meta': model.dataset_meta}}, path)
        out[k] = path
    return out


def _data_opts(eval_sets, name):
    root, ann = eval_sets[name]
    return ['--cfg-options', f'test_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.ann_file={ann}',
            'test_dataloader.dataset.data_prefix.img=',       # paths relative to the json
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


def _dataset_meta(name):
    from mmengine.config import Config
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    cfg = Config.fromfile(CFGS[name])
    return cfg, parse_pose_metainfo(cfg.test_dataloader.dataset.metainfo)


def _xtcocotools_eval(name, ann_file, preds):
    """AP / AR of ``preds`` (COCO results) by xtcocotools directly, with the dataset's
    sigmas; CrowdPose: 'keypoints_crowd' without areas."""
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval
    _, meta = _dataset_meta(name)
    gt = COCO(ann_file)
    crowd = name == 'crowdpose'
    ev = COCOeval(gt, gt.loadRes(preds), 'keypoints_crowd' if crowd else 'keypoints',
                  meta['sigmas'], use_area=not crowd)
    ev.params.useSegm = None
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return dict(AP=ev.stats[0], AR=ev.stats[5])


def _check_end_to_end(name, eval_sets, out, tmp_path, num_keypoints, keys):
    prefix = PREFIX[name]
    root, ann = eval_sets[name]
    m = _metrics(out, prefix)
    for key in keys:
        assert f'{prefix}/{key}' in m, (key, m)
    images = json.load(open(root + ann))['images']
    n = len(images)
    assert f'Epoch(test) [{n}/{n}]' in out
    preds = json.load(open(str(tmp_path / 'preds') + '.keypoints.json'))
    # every image scored, 100 candidates each (score_thr 0), with the config's keypoints
    assert sorted({p['image_id'] for p in preds}) == sorted(im['id'] for im in images)
    assert len(preds) == 100 * n
    assert all(len(p['keypoints']) == 3 * num_keypoints for p in preds)
    # the logged metric is what xtcocotools computes from these predictions
    ref = _xtcocotools_eval(name, root + ann, preds)
    assert m[f'{prefix}/AP'] == pytest.approx(ref['AP'], abs=1e-4)
    assert m[f'{prefix}/AR'] == pytest.approx(ref['AR'], abs=1e-4)
    return m


COCO_KEYS = ('AP', 'AP .5', 'AP .75', 'AR')


def test_coco_samples(eval_sets, ckpts, tmp_path):
    _, out = _test(CFGS['coco'], ckpts[17], _data_opts(eval_sets, 'coco'), tmp_path)
    _check_end_to_end('coco', eval_sets, out, tmp_path, 17, COCO_KEYS + ('AP (M)', 'AP (L)'))


def test_crowdpose_samples(eval_sets, ckpts, tmp_path):
    """14 keypoints, no `area`: CocoMetric(iou_type='keypoints_crowd', use_area=False)."""
    _, out = _test(CFGS['crowdpose'], ckpts[14], _data_opts(eval_sets, 'crowdpose'),
                   tmp_path)
    assert 'keypoints_crowd' in out
    m = _check_end_to_end('crowdpose', eval_sets, out, tmp_path, 14,
                          COCO_KEYS + ('AP(E)', 'AP(M)', 'AP(H)'))
    # every image has a medium crowd index (easy < 0.1, hard > 0.8): no easy / hard AP
    assert m['crowdpose/AP(E)'] == -1.0 and m['crowdpose/AP(H)'] == -1.0
    assert m['crowdpose/AP(M)'] == pytest.approx(m['crowdpose/AP'], abs=1e-4)


def test_ochuman_samples(eval_sets, ckpts, tmp_path):
    _, out = _test(CFGS['ochuman'], ckpts[17], _data_opts(eval_sets, 'ochuman'), tmp_path)
    _check_end_to_end('ochuman', eval_sets, out, tmp_path, 17, COCO_KEYS)


def _score_annotations(name, eval_sets, shift=0.0, drop_one=False):
    """The config's test evaluator fed the annotations themselves as predictions
    (keypoints moved by ``shift`` x the person's box size; the first person left out)."""
    from mmpose.registry import METRICS
    cfg, meta = _dataset_meta(name)
    root, ann = eval_sets[name]
    data = json.load(open(root + ann))
    metric = METRICS.build(dict(cfg.test_evaluator, ann_file=root + ann))
    metric.dataset_meta = meta
    K = meta['num_keypoints']
    people = [a for a in data['annotations'] if not a.get('iscrowd') and a['num_keypoints'] > 0]
    if drop_one:
        people = people[1:]
    for im in data['images']:
        mine = [a for a in people if a['image_id'] == im['id']]
        kpts = np.asarray([a['keypoints'] for a in mine], np.float32).reshape(-1, K, 3)
        size = np.asarray([np.sqrt(a['bbox'][2] * a['bbox'][3]) for a in mine], np.float32)
        xy = kpts[..., :2] + shift * size[:, None, None]
        metric.process([], [dict(
            id=[a['id'] for a in mine], img_id=im['id'], category_id=1, gt_instances={},
            pred_instances=dict(keypoints=xy, keypoint_scores=(kpts[..., 2] > 0) * 1.0,
                                bbox_scores=np.ones(len(mine), np.float32)))])
    prefix = PREFIX[name]
    return {k[len(prefix) + 1:]: v for k, v in metric.evaluate(len(data['images'])).items()}


@pytest.mark.parametrize('name', ['coco', 'crowdpose', 'ochuman'])
def test_evaluator_scores_the_annotations_themselves(name, eval_sets):
    exact = _score_annotations(name, eval_sets)
    assert exact['AP'] == pytest.approx(1.0) and exact['AR'] == pytest.approx(1.0)
    moved = _score_annotations(name, eval_sets, shift=0.05)
    assert moved['AP'] < 0.99
    assert _score_annotations(name, eval_sets, shift=0.5)['AP'] < moved['AP']
    missing = _score_annotations(name, eval_sets, drop_one=True)
    assert missing['AR'] < 1.0 and missing['AP'] < 1.0


def test_17_keypoint_model_on_crowdpose_with_coco_config_fails_clearly(
        eval_sets, ckpts, tmp_path):
    """KeypointCountCheckHook stops the run before inference, naming both counts."""
    rc, out = _test(CFGS['coco'], ckpts[17], _data_opts(eval_sets, 'crowdpose'), tmp_path,
                    ok=False)
    assert rc != 0
    assert 'ValueError' in out
    assert 'the annotations define 14 keypoints per person' in out
    assert 'num_keypoints=17' in out
    assert 'test_crowdpose.json' in out
    assert 'Epoch(test)' not in out


def test_17_keypoint_checkpoint_with_crowdpose_config_fails_clearly(eval_sets, ckpts, tmp_path):
    rc, out = _test(CFGS['crowdpose'], ckpts[17], _data_opts(eval_sets, 'crowdpose'),
                    tmp_path, ok=False)
    # MMEngine's loader only warns on shape mismatches; tools/test.py refuses instead
    assert rc != 0 and 'does not fit' in out and re.search(r'51.*42|42.*51', out[-3000:]), out[-3000:]
    assert 'Epoch(test)' not in out
