"""Training on another keypoint set: YOLO-pose <-> COCO converters, any K builds and trains,
and a keypoint-count mismatch is refused with a message naming the settings to change."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import erpose_mm  # noqa: F401
from tools.dataset_converters import coco_to_yolo_pose, yolo_pose_to_coco

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE_CFG = osp.join(REPO, 'configs', 'erpose', 'erpose-n_synthetic-256.py')


def write_metainfo(path: str, num_keypoints: int) -> str:
    """An MMPose metainfo file with K keypoints ``kp0..``; kp0 / kp1 are a left/right pair."""
    K = num_keypoints
    swap = {0: 'kp1', 1: 'kp0'}
    kinfo = {i: dict(name=f'kp{i}', id=i, color=[255, 0, 0], type='upper',
                     swap=swap.get(i, '')) for i in range(K)}
    skel = {i: dict(link=(f'kp{i}', f'kp{i + 1}'), id=i, color=[0, 255, 0])
            for i in range(K - 1)}
    with open(path, 'w') as fh:
        fh.write(f'dataset_info = dict(dataset_name="k{K}", paper_info=dict(), '
                 f'keypoint_info={kinfo!r}, skeleton_info={skel!r}, '
                 f'joint_weights={[1.0] * K!r}, sigmas={[0.05] * K!r})\n')
    return path


def write_coco(root, num_keypoints: int, num_images: int = 2, size=(256, 224)) -> str:
    """Noise images with two people each, every keypoint labelled inside its box."""
    rng = np.random.default_rng(num_keypoints)
    (root / 'img').mkdir(parents=True, exist_ok=True)
    w, h = size
    coco = dict(images=[], annotations=[], categories=[dict(
        id=1, name='person', keypoints=[f'kp{i}' for i in range(num_keypoints)], skeleton=[])])
    for i in range(1, num_images + 1):
        name = f'{i:03d}.png'
        cv2.imwrite(str(root / 'img' / name), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        coco['images'].append(dict(id=i, file_name=name, width=w, height=h))
        for x0 in (20, 130):
            box = [float(x0), 30.0, 90.0, 170.0]
            xs = rng.uniform(box[0], box[0] + box[2], num_keypoints)
            ys = rng.uniform(box[1], box[1] + box[3], num_keypoints)
            kpts = np.stack([xs, ys, np.full(num_keypoints, 2.0)], 1).round(2)
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=i, category_id=1, bbox=box,
                area=box[2] * box[3], iscrowd=0, num_keypoints=num_keypoints,
                keypoints=kpts.reshape(-1).tolist()))
    path = root / 'ann.json'
    path.write_text(json.dumps(coco))
    return str(path)


# ------------------------------------------------------------------ converters
def test_yolo_pose_line_to_coco_pixels():
    cls, ann = yolo_pose_to_coco.parse_label_line(
        '0 0.5 0.5 0.5 0.25 0.25 0.5 2 0.75 0.5 1 0 0 0'.split(), 3, 3, 200, 100, 'f line 1')
    assert cls == 0
    assert ann['bbox'] == [50.0, 37.5, 100.0, 25.0] and ann['area'] == 2500.0
    assert ann['keypoints'] == [50.0, 50.0, 2, 150.0, 50.0, 1, 0.0, 0.0, 0]
    assert ann['num_keypoints'] == 2
    # x y only: (0, 0) is unlabelled, anything else visible
    _, ann = yolo_pose_to_coco.parse_label_line(
        '0 0.5 0.5 1 1 0.1 0.2 0 0'.split(), 2, 2, 100, 100, 'f line 1')
    assert ann['keypoints'] == [10.0, 20.0, 2, 0.0, 0.0, 0]


@pytest.mark.parametrize('line,needle', [
    ('0 0.5 0.5 0.5 0.5 0.1 0.1 2', '8 values, expected 5 + K x 3 = 11 for K=2'),
    ('0 0.5 0.5 0.5 0.5 0.1 0.1 3 0.2 0.2 2', 'keypoint 0 visibility 3.0'),
    ('0 0.5 0.5 0.5 0.5 1.5 0.1 2 0.2 0.2 2', 'keypoint 0 x 1.5 is outside [0, 1]'),
    ('0 0.5 0.5 0.5 0.5 a 0.1 2 0.2 0.2 2', 'non-numeric'),
])
def test_yolo_pose_bad_lines_name_file_and_line(line, needle):
    with pytest.raises(yolo_pose_to_coco.LabelError) as e:
        yolo_pose_to_coco.parse_label_line(line.split(), 2, 3, 100, 100, 'a/b.txt line 7')
    assert str(e.value).startswith('a/b.txt line 7: ') and needle in str(e.value)
    assert '\n' not in str(e.value)


def test_coco_yolo_pose_round_trip_keeps_a_keypoint_subset(tmp_path, capsys):
    """17-keypoint COCO -> YOLO-pose with 3 kept keypoints -> COCO: the kept keypoints,
    boxes and visibilities come back (to the 6 decimals of the label files)."""
    ann = write_coco(tmp_path / 'src', 6, num_images=3)
    src = json.loads(open(ann).read())
    keep = ['kp4', 'kp0', 'kp1']
    assert coco_to_yolo_pose.main([ann, str(tmp_path / 'src' / 'img'), str(tmp_path / 'yolo'),
                                   '--split', 'train', '--keep', ','.join(keep)]) == 0
    data_yaml = (tmp_path / 'yolo' / 'data.yaml').read_text()
    assert 'kpt_shape: [3, 3]' in data_yaml and 'flip_idx: [0, 1, 2]' in data_yaml
    meta = tmp_path / 'meta3.py'
    meta.write_text('dataset_info = dict(dataset_name="k3", keypoint_info={'
                    '0: dict(name="kp4", id=0, color=[0,0,0], type="", swap=""), '
                    '1: dict(name="kp0", id=1, color=[0,0,0], type="", swap="kp1"), '
                    '2: dict(name="kp1", id=2, color=[0,0,0], type="", swap="kp0")}, '
                    'skeleton_info={0: dict(link=("kp0", "kp1"), id=0, color=[0,0,0])}, '
                    'joint_weights=[1.0]*3, sigmas=[0.05]*3)\n')
    out = tmp_path / 'back.json'
    assert yolo_pose_to_coco.main(['--images', str(tmp_path / 'yolo' / 'images' / 'train'),
                                   '--metainfo', str(meta), '--out', str(out)]) == 0
    back = json.loads(out.read_text())
    assert back['categories'][0]['keypoints'] == keep
    assert back['categories'][0]['skeleton'] == [[2, 3]]
    assert len(back['annotations']) == len(src['annotations'])
    by_name = {im['file_name']: im['id'] for im in back['images']}
    src_names = {im['id']: im['file_name'] for im in src['images']}
    for a, b in zip(src['annotations'], back['annotations']):
        assert by_name[src_names[a['image_id']]] == b['image_id']
        k = np.asarray(a['keypoints']).reshape(-1, 3)[[4, 0, 1]]
        np.testing.assert_allclose(np.asarray(b['keypoints']).reshape(-1, 3), k, atol=1e-3)
        np.testing.assert_allclose(b['bbox'], a['bbox'], atol=1e-3)
    # never overwritten: a refusal, exit status 2, one line naming the file
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:
        yolo_pose_to_coco.main(['--images', str(tmp_path / 'yolo' / 'images' / 'train'),
                                '--metainfo', str(meta), '--out', str(out)])
    assert err.value.code == 2
    assert capsys.readouterr().err.strip() == f'error: {out} exists; not overwriting it'


def test_yolo_pose_wrong_keypoint_count_refused_by_cli(tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'labels').mkdir()
    cv2.imwrite(str(tmp_path / 'images' / 'a.jpg'), np.zeros((40, 60, 3), np.uint8))
    (tmp_path / 'labels' / 'a.txt').write_text('0 0.5 0.5 0.5 0.5 ' + '0.5 0.5 2 ' * 17 + '\n')
    meta = write_metainfo(str(tmp_path / 'meta5.py'), 5)
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'dataset_converters',
                                                   'yolo_pose_to_coco.py'),
                          '--images', str(tmp_path / 'images'), '--metainfo', meta,
                          '--out', str(tmp_path / 'out.json')], capture_output=True, text=True)
    assert res.returncode == 2, res.stderr[-2000:]
    (last,) = res.stderr.strip().splitlines()
    assert last.startswith('error: ') and 'a.txt line 1: 56 values' in last and 'K=5' in last
    assert not (tmp_path / 'out.json').exists()


# ------------------------------------------------------------------ training with K keypoints
class _RecordLosses(Hook):
    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append({k: float(v) for k, v in outputs.items()})


def _runner(tmp_path, data_k: int, model_k: int, runner_cls=Runner, load_from=None) -> Runner:
    ann = write_coco(tmp_path / 'data', data_k)
    meta_data = write_metainfo(str(tmp_path / f'meta{data_k}.py'), data_k)
    meta_model = write_metainfo(str(tmp_path / f'meta{model_k}.py'), model_k)
    cfg = Config.fromfile(BASE_CFG)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.head.num_keypoints = model_k
    cfg.model.head.metainfo = meta_model
    ds = cfg.train_dataloader.dataset
    ds.data_root = str(tmp_path / 'data')
    ds.ann_file = ann
    ds.data_prefix = dict(img='img/')
    ds.metainfo = dict(from_file=meta_data)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    cfg.load_from = load_from
    return runner_cls.from_cfg(cfg)


@pytest.mark.parametrize('K', [5, 14, 21, 68])
def test_any_keypoint_count_builds_and_trains_a_step(K, tmp_path):
    runner = _runner(tmp_path, K, K)
    rec = _RecordLosses()
    runner.register_hook(rec)
    head = runner.model.head
    before = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    assert head.num_keypoints == K
    for branch in (head.one2one, head.one2many):
        for seq in branch.kpt:
            assert seq[-1].out_channels == 3 * K
    assert len(rec.losses) == 1
    losses = rec.losses[0]
    assert all(np.isfinite(v) for v in losses.values())
    assert losses['num_pos'] > 0 and losses['loss_pose'] > 0
    after = runner.model.state_dict()
    changed = [k for k in before if before[k].is_floating_point()
               and not torch.equal(before[k], after[k].to(before[k].device))]
    assert any(k.startswith('head.one2one.kpt') for k in changed)
    assert any(k.startswith('backbone.') for k in changed)


def test_keypoint_count_mismatch_names_the_settings(tmp_path):
    runner = _runner(tmp_path, data_k=5, model_k=17)
    with pytest.raises(ValueError) as e:
        runner.train()
    msg = str(e.value)
    assert 'num_keypoints=17' in msg and 'metainfo' in msg and '5 keypoints' in msg


def test_finetune_from_converted_yolov8_pose(tmp_path):
    """A YOLOv8n-pose converted for a 5-keypoint config trains through tools/train.py's
    Runner (load_from fine-tuning rules): the converted tensors are what training starts
    from."""
    from erpose_mm.engine.runner import ERPoseRunner
    from erpose_mm.models.converters import (convert_to_erpose, load_yolov8_source,
                                             read_checkpoint)
    import make_test_fixture as mtf
    ref = torch.load(osp.join(REPO, 'tests', 'fixtures', 'yolov8_converter',
                              'ref_ultralytics_yolov8n-pose.pt'), weights_only=True)
    src_path = str(tmp_path / 'yolov8n-pose_state_dict.pth')
    torch.save(mtf.deterministic_state_dict(ref['shapes']), src_path)
    runner = _runner(tmp_path, 5, 5)
    conv = convert_to_erpose(load_yolov8_source(read_checkpoint(src_path)), runner.model, 'k5')
    ckpt = str(tmp_path / 'converted.pth')
    torch.save(dict(state_dict=conv.state_dict), ckpt)
    runner = _runner(tmp_path / 'run', 5, 5, runner_cls=ERPoseRunner, load_from=ckpt)
    rec = _RecordLosses()
    runner.register_hook(rec)
    runner.train()
    assert len(rec.losses) == 1 and np.isfinite(rec.losses[0]['loss'])
    after = runner.model.state_dict()
    key = 'backbone.stem.conv.weight'
    # one warm-up step (lr ~2e-5) moves the weights by far less than their scale
    assert (after[key] - conv.state_dict[key]).abs().max() < 1e-2 * conv.state_dict[key].abs().max()
