"""Tests for the synthetic COCO person-keypoints generator (erpose_mm.datasets.synthetic).

The generator needs only numpy, opencv, pycocotools and tqdm; with
``ERPOSE_MM_RUNTIME_ONLY=1`` (what tools/dataset_converters/make_synthetic_coco.py sets) it
imports without torch and the OpenMMLab stack.
"""
import importlib
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
CLI_PATH = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'make_synthetic_coco.py')
DEMO_CLI_PATH = osp.join(REPO_ROOT, 'tools', 'misc', 'make_demo_image.py')

cv2 = pytest.importorskip('cv2')
pytest.importorskip('pycocotools')

from tools.dataset_converters import make_synthetic_coco as cli  # noqa: E402

syn = cli.load_generator()


def _submodule(name):
    return importlib.import_module(f'{syn.__name__}.{name}')

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


@pytest.mark.slow
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


# ------------------------------------------------------------------ package modules
@pytest.mark.slow
def test_package_loads_without_torch():
    code = ('import os, sys\n'
            "os.environ['ERPOSE_MM_RUNTIME_ONLY'] = '1'\n"
            'from tools.dataset_converters import make_synthetic_coco as cli\n'
            'syn = cli.load_generator()\n'
            'assert callable(syn.generate_synthetic_coco) and callable(syn.write_demo_image)\n'
            "bad = [m for m in ('torch', 'mmpose', 'mmengine', 'mmcv') if m in sys.modules]\n"
            'assert not bad, bad\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_workers_give_the_same_files(tmp_path):
    kw = dict(num_train=5, num_val=2, seed=4, difficulty='hard', **SMALL)
    a = syn.generate_synthetic_coco(str(tmp_path / 'serial'), workers=0, **kw)
    b = syn.generate_synthetic_coco(str(tmp_path / 'pool'), workers=2, **kw)
    for split in ('train', 'val'):
        assert open(a[split]['ann_file'], 'rb').read() == open(b[split]['ann_file'], 'rb').read()
        for im in _load(a[split]['ann_file'])['images']:
            assert (tmp_path / 'serial' / split / im['file_name']).read_bytes() == \
                (tmp_path / 'pool' / split / im['file_name']).read_bytes()


def test_coco_format_rle_and_polygons_decode_to_the_mask():
    from pycocotools import mask as mask_utils
    coco_format = _submodule('coco_format')
    rng = np.random.default_rng(0)
    for first in (0, 1):     # a mask whose first (top-left) pixel is set starts with a 0 run
        m = rng.random((23, 31)) > 0.6
        m[0, 0] = bool(first)
        rle = coco_format.rle_uncompressed(m)
        assert rle['size'] == [23, 31] and sum(rle['counts']) == m.size
        decoded = mask_utils.decode(mask_utils.frPyObjects(rle, 23, 31))
        assert np.array_equal(decoded.astype(bool), m)
    box = np.zeros((40, 50), bool)
    box[10:30, 5:25] = True
    polys = coco_format.mask_polygons(box, origin=(100, 200))
    assert len(polys) == 1
    xy = np.asarray(polys[0]).reshape(-1, 2)
    assert xy[:, 0].min() == 105 and xy[:, 0].max() == 124
    assert xy[:, 1].min() == 210 and xy[:, 1].max() == 229


def test_pose_and_figure_follow_the_left_right_rule():
    """A standing figure facing the camera has its left side on the image's right; the
    head is above the hips, the ankles below; translating moves keypoints and extents."""
    cf, figure, pose = (_submodule(n) for n in ('coco_format', 'figure', 'pose'))
    rng = np.random.default_rng(1)
    for name in syn.POSES:
        p = pose.sample_pose(rng, name)
        assert all(a is not None for a in p['arm'] + p['leg'] + p['foot']), name
    with pytest.raises(ValueError, match='unknown pose'):
        pose.sample_pose(rng, 'flying')
    p = pose.sample_pose(rng, 'standing')
    p.update(rho=0.0, lean=0.0, beta=0.0, psi=0.0, tilt=0.0)
    fig = figure.Figure(pose.sample_body(rng, 200.0), p)
    k = fig.kpts
    for left, right in ((cf.LSHO, cf.RSHO), (cf.LHIP, cf.RHIP), (cf.LEYE, cf.REYE)):
        assert k[left, 0] > k[right, 0]
    assert k[cf.NOSE, 1] < k[cf.LHIP, 1] < k[cf.LKNE, 1] < k[cf.LANK, 1]
    assert 120 < k[cf.LANK, 1] - k[cf.NOSE, 1] < 200
    ext = fig.ext.copy()
    fig.translate((10.0, -5.0))
    np.testing.assert_allclose(fig.kpts, k + [10.0, -5.0])
    np.testing.assert_allclose(fig.ext, ext + [10.0, -5.0, 10.0, -5.0])


def test_demo_image(tmp_path):
    path = str(tmp_path / 'demo' / 'people.jpg')
    anns = syn.write_demo_image(path, width=320, height=480, seed=0, num_people=3)
    img = cv2.imread(path)
    assert img.shape == (480, 320, 3)
    assert 2 <= len(anns) <= 3 and all(not a['iscrowd'] for a in anns)
    for a in anns:
        k = np.asarray(a['keypoints']).reshape(17, 3)
        assert a['num_keypoints'] >= 10 and (k[:, 2] == 2).any()
        assert a['bbox'][3] >= 0.4 * 320                   # people are large
    with pytest.raises(FileExistsError, match='people.jpg'):
        syn.write_demo_image(path)
    again = str(tmp_path / 'again.jpg')
    assert syn.write_demo_image(again, width=320, height=480, seed=0) == anns
    assert open(again, 'rb').read() == open(path, 'rb').read()
    syn.write_demo_image(again, width=320, height=480, seed=1, overwrite=True)
    assert open(again, 'rb').read() != open(path, 'rb').read()


@pytest.mark.slow
def test_demo_image_cli(tmp_path):
    out, ann = tmp_path / 'demo.png', tmp_path / 'demo.json'
    args = [sys.executable, DEMO_CLI_PATH, str(out), '--width', '300', '--height', '200',
            '--seed', '3', '--ann-out', str(ann)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert cv2.imread(str(out)).shape == (200, 300, 3)
    assert _load(ann) == syn.write_demo_image(str(tmp_path / 'same.png'), width=300,
                                              height=200, seed=3)
    before = out.read_bytes()
    proc = subprocess.run(args[:3] + ['--seed', '4'], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and str(out) in proc.stderr and 'already exists' in proc.stderr
    assert out.read_bytes() == before
