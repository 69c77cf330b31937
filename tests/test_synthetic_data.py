"""Tests for the synthetic COCO person-keypoints generator (erpose_mm.datasets.synthetic).

The generator module is loaded from its file so these tests need only numpy, opencv,
pycocotools and tqdm (``import erpose_mm`` would pull in torch and the OpenMMLab stack).
"""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
SYN_PATH = osp.join(REPO_ROOT, 'erpose_mm', 'datasets', 'synthetic.py')
CLI_PATH = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'make_synthetic_coco.py')

cv2 = pytest.importorskip('cv2')
pytest.importorskip('pycocotools')


def _load_synthetic():
    name = 'erpose_mm_synthetic_under_test'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SYN_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


syn = _load_synthetic()

SMALL = dict(min_size=160, max_size=320, progress=False)


def _load(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def medium_ds(tmp_path_factory):
    out = tmp_path_factory.mktemp('syn_medium')
    res = syn.generate_synthetic_coco(str(out), num_train=12, num_val=6, seed=0,
                                      difficulty='medium', **SMALL)
    return out, res


@pytest.fixture(scope='module')
def hard_ds(tmp_path_factory):
    out = tmp_path_factory.mktemp('syn_hard')
    res = syn.generate_synthetic_coco(str(out), num_train=12, num_val=0, seed=3,
                                      difficulty='hard', **SMALL)
    return out, res


def _check_split(ann_file, img_dir):
    from pycocotools.coco import COCO
    coco = COCO(ann_file)
    data = _load(ann_file)
    assert coco.getCatIds() == [1]
    cat = data['categories'][0]
    assert cat['name'] == 'person'
    assert cat['keypoints'] == list(syn.KEYPOINT_NAMES)
    assert len(cat['skeleton']) == 19
    assert cat['skeleton'] == syn.SKELETON
    images = {im['id']: im for im in data['images']}
    assert len(images) == len(data['images'])
    for im in data['images']:
        path = osp.join(img_dir, im['file_name'])
        assert osp.isfile(path), path
        img = cv2.imread(path)
        assert img is not None and img.shape[:2] == (im['height'], im['width'])
    ann_ids = [a['id'] for a in data['annotations']]
    assert len(set(ann_ids)) == len(ann_ids)
    for a in data['annotations']:
        im = images[a['image_id']]
        W, H = im['width'], im['height']
        assert a['category_id'] == 1
        kps = np.asarray(a['keypoints'], dtype=np.float64).reshape(17, 3)
        v = kps[:, 2]
        assert set(np.unique(v)).issubset({0, 1, 2})
        assert a['num_keypoints'] == int((v > 0).sum())
        lab = v > 0
        assert np.all(kps[~lab, :2] == 0), 'v=0 keypoints must be (0, 0)'
        assert np.all((kps[lab, 0] >= 0) & (kps[lab, 0] <= W - 1))
        assert np.all((kps[lab, 1] >= 0) & (kps[lab, 1] <= H - 1))
        x, y, w, h = a['bbox']
        assert w > 0 and h > 0
        assert x >= 0 and y >= 0 and x + w <= W + 1e-6 and y + h <= H + 1e-6
        if lab.any():
            assert np.all(kps[lab, 0] >= x - 1e-6) and np.all(kps[lab, 0] <= x + w + 1e-6)
            assert np.all(kps[lab, 1] >= y - 1e-6) and np.all(kps[lab, 1] <= y + h + 1e-6)
        assert a['area'] > 0
        if a['iscrowd']:
            assert a['num_keypoints'] == 0 and not np.any(kps)
            assert isinstance(a['segmentation'], dict)
        else:
            assert a['iscrowd'] == 0
            assert isinstance(a['segmentation'], list) and a['segmentation']
            assert all(len(p) >= 6 and len(p) % 2 == 0 for p in a['segmentation'])
        m = coco.annToMask(a)
        assert m.shape == (H, W) and m.sum() > 0
    return data


def test_medium_dataset_is_valid_coco(medium_ds):
    out, res = medium_ds
    for split, n in (('train', 12), ('val', 6)):
        ann_file = osp.join(str(out), 'annotations', f'person_keypoints_{split}.json')
        assert res[split]['ann_file'] == ann_file
        data = _check_split(ann_file, osp.join(str(out), split))
        assert len(data['images']) == n == res[split]['num_images']
        assert len(data['annotations']) == res[split]['num_annotations']
        assert data['images'][0]['file_name'] == '000001.jpg'
    train = _load(res['train']['ann_file'])
    assert sum(a['num_keypoints'] > 0 for a in train['annotations']) >= 12
    # images without people exist and are listed without annotations
    with_anns = {a['image_id'] for a in train['annotations']}
    assert any(im['id'] not in with_anns for im in train['images'])
    # varied image sizes / aspect ratios
    assert len({(im['width'], im['height']) for im in train['images']}) > 3


def test_hard_dataset_has_occlusion(hard_ds):
    out, res = hard_ds
    data = _check_split(res['train']['ann_file'], osp.join(str(out), 'train'))
    persons = [a for a in data['annotations'] if not a['iscrowd']]
    kps = np.array([a['keypoints'] for a in persons]).reshape(-1, 17, 3)
    assert (kps[..., 2] == 1).sum() > 0, 'hard difficulty must produce occluded keypoints'
    assert (kps[..., 2] == 2).sum() > 0
    per_img = np.bincount([a['image_id'] for a in persons])
    assert per_img.max() >= 4
    # heights span small and large people
    heights = [a['bbox'][3] for a in persons]
    assert min(heights) < 60


def test_left_right_rule_is_flip_consistent(hard_ds):
    """Figures face the camera: relative to the torso's up direction, every labelled
    left shoulder/hip/eye/ear lies on the figure's left, i.e. the image-right side of an
    upright figure. A horizontal flip with swapped labels keeps this true."""
    _, res = hard_ds
    data = _load(res['train']['ann_file'])
    checked = 0
    for a in data['annotations']:
        k = np.asarray(a['keypoints'], dtype=np.float64).reshape(17, 3)
        if not (k[[5, 6, 11, 12], 2] > 0).all():
            continue
        up = (k[5, :2] + k[6, :2]) / 2 - (k[11, :2] + k[12, :2]) / 2
        if np.linalg.norm(up) < 5:
            continue
        left_dir = np.array([-up[1], up[0]]) / np.linalg.norm(up)
        for li, ri in ((5, 6), (11, 12), (1, 2), (3, 4)):
            if k[li, 2] > 0 and k[ri, 2] > 0:
                assert np.dot(k[li, :2] - k[ri, :2], left_dir) > 0
                checked += 1
    assert checked > 20


def test_determinism(tmp_path, medium_ds):
    out, res = medium_ds
    out2 = tmp_path / 'same'
    res2 = syn.generate_synthetic_coco(str(out2), num_train=12, num_val=6, seed=0,
                                       difficulty='medium', **SMALL)
    for split in ('train', 'val'):
        with open(res[split]['ann_file'], 'rb') as f1, \
                open(res2[split]['ann_file'], 'rb') as f2:
            assert f1.read() == f2.read()
    out3 = tmp_path / 'other'
    res3 = syn.generate_synthetic_coco(str(out3), num_train=12, num_val=6, seed=1,
                                       difficulty='medium', **SMALL)
    with open(res['train']['ann_file'], 'rb') as f1, \
            open(res3['train']['ann_file'], 'rb') as f3:
        assert f1.read() != f3.read()


def test_crowd_regions(tmp_path):
    res = syn.generate_synthetic_coco(str(tmp_path), num_train=6, num_val=0, seed=5,
                                      difficulty='medium', crowd_prob=1.0,
                                      empty_frac=0.0, **SMALL)
    data = _check_split(res['train']['ann_file'], str(tmp_path / 'train'))
    crowd = [a for a in data['annotations'] if a['iscrowd']]
    assert len(crowd) >= 4
    for a in crowd:
        assert a['iscrowd'] == 1 and a['num_keypoints'] == 0
        assert a['keypoints'] == [0] * 51
        assert a['segmentation']['size'] == [
            next(im['height'] for im in data['images'] if im['id'] == a['image_id']),
            next(im['width'] for im in data['images'] if im['id'] == a['image_id'])]
    assert res['train']['num_crowd'] == len(crowd)


def test_easy_preset_and_overrides(tmp_path):
    res = syn.generate_synthetic_coco(str(tmp_path / 'easy'), num_train=10, num_val=0,
                                      seed=2, difficulty='easy', **SMALL)
    data = _load(res['train']['ann_file'])
    assert not any(a['iscrowd'] for a in data['annotations'])
    per_img = np.bincount([a['image_id'] for a in data['annotations']])
    assert per_img.max() <= 3
    res = syn.generate_synthetic_coco(str(tmp_path / 'one'), num_train=6, num_val=0,
                                      seed=2, difficulty='hard', max_people=1,
                                      crowd_prob=0.0, **SMALL)
    data = _load(res['train']['ann_file'])
    per_img = np.bincount([a['image_id'] for a in data['annotations']])
    assert per_img.max() <= 1
    with pytest.raises(ValueError):
        syn.generate_synthetic_coco(str(tmp_path / 'bad'), num_train=1, num_val=0,
                                    difficulty='impossible', progress=False)


def test_cli(tmp_path):
    out = tmp_path / 'cli'
    proc = subprocess.run(
        [sys.executable, CLI_PATH, str(out), '--num-train', '5', '--num-val', '2',
         '--seed', '0', '--min-size', '128', '--max-size', '200', '--difficulty', 'easy',
         '--max-people', '2', '--no-progress'],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for split, n in (('train', 5), ('val', 2)):
        data = _load(out / 'annotations' / f'person_keypoints_{split}.json')
        assert len(data['images']) == n
        for im in data['images']:
            assert (out / split / im['file_name']).is_file()
            assert 128 <= im['width'] <= 200 and 128 <= im['height'] <= 200


def test_mmpose_coco_dataset_loads(medium_ds):
    pytest.importorskip('mmpose')
    try:
        from mmpose.datasets import CocoDataset
    except Exception as e:  # broken optional stack: not this module's concern
        pytest.skip(f'mmpose.datasets unavailable: {e}')
    out, res = medium_ds
    data = _load(res['train']['ann_file'])
    ds = CocoDataset(
        ann_file=res['train']['ann_file'],
        data_root=str(out),
        data_prefix=dict(img='train/'),
        data_mode='bottomup',
        test_mode=False,
        pipeline=[])
    # bottom-up train mode: one item per image with annotations (crowd regions included,
    # they become ``invalid_segs`` masks in the pipeline)
    assert len(ds) == len({a['image_id'] for a in data['annotations']})
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert sum(len(d['keypoints']) for d in infos) == len(data['annotations'])
    n_crowd = sum(a['iscrowd'] for a in data['annotations'])
    assert sum(int(np.sum(d['iscrowd'])) for d in infos) == n_crowd
    item = ds[0]
    assert osp.isfile(item['img_path'])
    assert item['keypoints'].shape[1:] == (17, 2)
