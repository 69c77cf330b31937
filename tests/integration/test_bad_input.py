"""Bad training/evaluation input: clear errors naming the file, or COCO semantics."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpose.datasets import CocoDataset
from mmpose.registry import MODELS

from erpose_mm.datasets import generate_synthetic_coco
from erpose_mm.models.heads import total_loss

CFG = 'configs/erpose/erpose-n_synthetic-256.py'


@pytest.fixture(scope='module')
def crowd_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('crowd'))
    generate_synthetic_coco(root, num_train=6, num_val=2, seed=5, min_size=160, max_size=224,
                            difficulty='medium', crowd_prob=1.0, progress=False)
    return root


def _dataset(root, ann, pipeline, test_mode=False):
    cfg = Config.fromfile(CFG)
    return CocoDataset(data_root=root, ann_file=ann, data_prefix=dict(img='train/'),
                       data_mode='bottomup', test_mode=test_mode, pipeline=pipeline,
                       metainfo=dict(from_file='configs/_base_/datasets/coco.py'))


def _train_pipeline():
    return Config.fromfile(CFG).train_pipeline_stage2


def _break_first_image(root, how):
    ann = json.load(open(osp.join(root, 'annotations/person_keypoints_train.json')))
    with_people = {a['image_id'] for a in ann['annotations']}
    img = next(i for i in ann['images'] if i['id'] in with_people)
    path = osp.join(root, 'train', img['file_name'])
    if how == 'missing':
        img['file_name'] = 'does_not_exist.jpg'
        path = osp.join(root, 'train', 'does_not_exist.jpg')
    else:
        with open(path, 'wb') as f:
            f.write(b'this is not a jpeg')
    ann['images'] = [img]
    ann['annotations'] = [a for a in ann['annotations'] if a['image_id'] == img['id']]
    out = osp.join(root, f'annotations/{how}.json')
    json.dump(ann, open(out, 'w'))
    return out, path


@pytest.mark.parametrize('how', ['missing', 'corrupt'])
def test_unloadable_image_is_refused_with_its_path(tmp_path, how):
    root = str(tmp_path)
    generate_synthetic_coco(root, num_train=4, num_val=1, seed=1, min_size=128, max_size=160,
                            difficulty='easy', progress=False)
    ann, path = _break_first_image(root, how)
    ds = _dataset(root, ann, _train_pipeline())
    with pytest.raises(Exception) as err:
        ds[0]
    assert osp.basename(path) in str(err.value)


def test_crowd_regions_are_ignored_not_background(crowd_data):
    ds = _dataset(crowd_data, 'annotations/person_keypoints_train.json', _train_pipeline())
    model = MODELS.build(Config.fromfile(CFG).model).train()
    raw = json.load(open(osp.join(crowd_data, 'annotations/person_keypoints_train.json')))
    assert any(a['iscrowd'] for a in raw['annotations'])
    found_ignore = False
    for i in range(len(ds)):
        item = ds[i]
        gt = item['data_samples'].gt_instance_labels
        vis = torch.as_tensor(gt.keypoints_visible)
        if not (vis.reshape(len(gt), -1).sum(1) == 0).any():
            continue
        # the crowd instance reaches the head as a person without labelled keypoints ...
        gt_t = model.head.batch_targets([item['data_samples']], 'cpu')
        feats = model.extract_feat(item['inputs'][None].float() / 255)
        outs = model.head.dense_outputs(feats)
        res = model.head.assign(outs, gt_t, model.head.assigner_one2many)
        # ... and its cells are excluded from the confidence loss instead of being background
        assert res['ignore_mask'].any()
        found_ignore = True
        losses = model.loss(item['inputs'][None].float(), [item['data_samples']])
        assert all(torch.isfinite(v) for v in losses.values())
        break
    assert found_ignore


def test_images_without_people(tmp_path):
    """COCO semantics as MMPose implements them: images without people are not training
    samples (bottom-up train mode drops them), but are evaluated (they can hold false
    positives); a batch whose crops contain nobody still gives a finite loss."""
    root = str(tmp_path)
    generate_synthetic_coco(root, num_train=20, num_val=1, seed=2, min_size=128, max_size=160,
                            difficulty='easy', empty_frac=0.5, progress=False)
    ann = json.load(open(osp.join(root, 'annotations/person_keypoints_train.json')))
    used = {a['image_id'] for a in ann['annotations']}
    empty = [i for i in ann['images'] if i['id'] not in used]
    assert empty
    train = _dataset(root, 'annotations/person_keypoints_train.json', _train_pipeline())
    assert len(train) == len(used)
    cfg = Config.fromfile(CFG)
    test = _dataset(root, 'annotations/person_keypoints_train.json', cfg.val_pipeline,
                    test_mode=True)
    assert len(test) == len(ann['images'])
    model = MODELS.build(cfg.model).eval()
    idx = next(i for i in range(len(test)) if test.get_data_info(i)['img_id'] == empty[0]['id'])
    item = test[idx]
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[item['inputs']], data_samples=[item['data_samples']]))
    assert pred[0].pred_instances.keypoints.shape[1:] == (17, 2)
    # an empty crop in training
    model.train()
    sample = copy.deepcopy(train[0]['data_samples'])
    sample.gt_instance_labels = sample.gt_instance_labels[np.zeros(len(sample.gt_instance_labels), bool)]
    losses = model.loss(train[0]['inputs'][None].float(), [sample])
    total = total_loss(losses)
    assert torch.isfinite(total) and losses['num_pos'] == 0


# ------------------------------------------------- checkpoints that are no checkpoints
@pytest.fixture(scope='module')
def broken_checkpoints(tmp_path_factory):
    """{kind: path}: an empty file, a truncated checkpoint, a file that is no checkpoint."""
    d = tmp_path_factory.mktemp('broken_ckpts')
    whole = d / 'whole.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(4096))), whole)
    raw = whole.read_bytes()
    (d / 'empty.pth').write_bytes(b'')
    (d / 'truncated.pth').write_bytes(raw[:len(raw) // 2])
    (d / 'text.pth').write_text('not a checkpoint\n')
    return {k: str(d / f'{k}.pth') for k in ('empty', 'truncated', 'text')}


@pytest.mark.parametrize('kind', ['empty', 'truncated', 'text'])
def test_infer_refuses_a_file_that_is_no_checkpoint(broken_checkpoints, kind, demo_images,
                                                    tmp_path, capsys, repo_root):
    from tools import infer as tool
    path = broken_checkpoints[kind]
    rc = tool.main([osp.join(repo_root, CFG), path, demo_images.img,
                    '--out-dir', str(tmp_path / 'out')])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and 'Traceback' not in '\n'.join(err)
    assert err[-1].startswith(f'error: {path}: cannot be read as a PyTorch checkpoint (')


@pytest.mark.parametrize('kind', ['empty', 'truncated', 'text'])
def test_load_from_refuses_a_file_that_is_no_checkpoint(broken_checkpoints, kind):
    from erpose_mm.engine.runner import ERPoseRunner
    from erpose_mm.utils.checkpoint_fit import CheckpointMismatchError
    path = broken_checkpoints[kind]
    with pytest.raises(CheckpointMismatchError) as err:
        ERPoseRunner.load_for_finetuning(None, path)  # fails before it needs the runner
    msg = str(err.value)
    assert msg.startswith(f'{path}: cannot be read as a PyTorch checkpoint (') and '\n' not in msg


def test_train_load_from_an_empty_file_is_one_line(broken_checkpoints, tmp_path, repo_root):
    import os
    import subprocess
    import sys
    data = str(tmp_path / 'data') + '/'
    generate_synthetic_coco(data, num_train=4, num_val=1, seed=5, min_size=128, max_size=160,
                            difficulty='easy', empty_frac=0.0, progress=False)
    env = dict(os.environ, OMP_NUM_THREADS='1', ERPOSE_MM_CACHE_DIR=str(tmp_path / 'cache'))
    path = broken_checkpoints['empty']
    p = subprocess.run(
        [sys.executable, 'tools/train.py', CFG, '--work-dir', str(tmp_path / 'work'),
         '--no-validate', '--cfg-options', f'train_dataloader.dataset.data_root={data}',
         'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
         'train_cfg.max_epochs=1', f'load_from={path}'],
        cwd=repo_root, capture_output=True, text=True, timeout=600, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 2 and 'Traceback' not in out, out[-3000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith(f'error: {path}: cannot be read as a PyTorch checkpoint (')
    assert 'mmengine - ERROR' not in out  # the documented line, not a logger record
