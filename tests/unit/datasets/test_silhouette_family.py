"""The learning benchmark's second data family (benchmarks/learning_benchmark/silhouette_*):
determinism, boxes from the visible silhouette, visibility from occlusion, COCO / MMPose
loading, and make_data / runner / command-line wiring. Tiny images only."""
import json
import os.path as osp
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip('cv2')

from benchmarks.learning_benchmark import silhouette_family as F  # noqa: E402
from benchmarks.learning_benchmark.silhouette_body import pose_figure, sample_body  # noqa: E402

COCO_NAMES = ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
              'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
              'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle']
QUIET = dict(F.PRESETS['easy'], occlusion=0.0, back_objects=(0, 0), front_rate=0.0)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp('sil')
    res = F.generate_silhouette_coco(str(out), num_train=6, num_val=3, seed=5, min_size=96,
                                     max_size=128, difficulty='hard', min_people=2,
                                     max_people=4, occlusion=0.6, scale_range=(0.5, 0.9),
                                     crowd_prob=0.0, progress=False)
    return out, res


def _standing(height: float, rng_seed: int = 0):
    """A frontal standing figure with fixed angles (no self-occlusion)."""
    phi = {}
    for s, side in ((1.0, 'l'), (-1.0, 'r')):
        phi.update({f'upper_{side}': 0.25 * s, f'fore_{side}': 0.35 * s,
                    f'thigh_{side}': 0.08 * s, f'shin_{side}': 0.02 * s})
    pose = dict(yaw=0.0, lean=0.0, tilt=0.0, phi=phi, fs={k: 1.0 for k in phi})
    return pose_figure(sample_body(np.random.default_rng(rng_seed), height), pose)


def test_same_seed_same_files_other_seed_other_data(tiny, tmp_path):
    out, res = tiny
    again = F.generate_silhouette_coco(str(tmp_path / 'a'), num_train=6, num_val=3, seed=5,
                                       min_size=96, max_size=128, difficulty='hard',
                                       min_people=2, max_people=4, occlusion=0.6,
                                       scale_range=(0.5, 0.9), progress=False)
    for sp in ('train', 'val'):
        assert open(res[sp]['ann_file'], 'rb').read() == open(again[sp]['ann_file'], 'rb').read()
    assert open(out / 'train' / '000001.jpg', 'rb').read() == \
        open(tmp_path / 'a' / 'train' / '000001.jpg', 'rb').read()
    other = F.generate_silhouette_coco(str(tmp_path / 'b'), num_train=6, num_val=0, seed=6,
                                       min_size=96, max_size=128, difficulty='hard',
                                       progress=False)
    assert json.load(open(other['train']['ann_file']))['annotations'] != \
        json.load(open(res['train']['ann_file']))['annotations']


def test_layout_and_coco_fields(tiny):
    out, res = tiny
    d = json.load(open(res['train']['ann_file']))
    cat = d['categories'][0]
    assert cat['keypoints'] == COCO_NAMES and len(cat['skeleton']) == 19
    assert len(d['images']) == 6 and res['train']['num_persons'] == len(d['annotations']) > 0
    for im in d['images']:
        assert (out / 'train' / im['file_name']).is_file()
        assert 96 <= im['width'] <= 128 and 96 <= im['height'] <= 128
    sizes = {im['id']: (im['width'], im['height']) for im in d['images']}
    for a in d['annotations']:
        k = np.array(a['keypoints']).reshape(17, 3)
        assert a['iscrowd'] == 0 and a['num_keypoints'] == int((k[:, 2] > 0).sum()) > 0
        assert np.all(k[k[:, 2] == 0, :2] == 0)
        W, H = sizes[a['image_id']]
        lab = k[k[:, 2] > 0]
        assert np.all((lab[:, :2] >= 0) & (lab[:, :2] <= [W - 1, H - 1]))
        x, y, w, h = a['bbox']
        assert w > 0 and h > 0 and x + w <= W and y + h <= H and 0 < a['area'] <= w * h
    with pytest.raises(ValueError, match='crowd'):
        F.generate_silhouette_coco(str(out / 'x'), num_train=1, num_val=0, crowd_prob=0.2)


def test_bbox_and_area_come_from_the_visible_silhouette():
    differs = 0
    for i in range(4):
        rng = np.random.default_rng([1, i])
        img, anns, masks = F.generate_image(rng, 120, 110, dict(F.PRESETS['hard'],
                                                                scale_range=(0.5, 0.9)))
        assert img.shape == (110, 120, 3) and img.dtype == np.uint8 and len(anns) == len(masks)
        for a, m in zip(anns, masks):
            ys, xs = np.nonzero(m)
            assert a['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                 ys.max() - ys.min() + 1]
            assert a['area'] == m.sum()
            k = np.array(a['keypoints']).reshape(17, 3)
            lab = k[k[:, 2] > 0, :2]
            kbox = [lab[:, 0].min(), lab[:, 1].min(), lab[:, 0].max(), lab[:, 1].max()]
            x, y, w, h = a['bbox']
            differs += max(abs(kbox[0] - x), abs(kbox[1] - y), abs(kbox[2] - (x + w)),
                           abs(kbox[3] - (y + h))) > 2
    assert differs > 0


def test_front_person_and_object_make_keypoints_v1_image_border_v0():
    W, H = 140, 120
    back, front = _standing(80, 0), _standing(80, 1)
    people = [(back, np.array([60.0, 62.0])), (front, np.array([74.0, 66.0]))]
    img, ids, full = F.render(np.random.default_rng(0), W, H, people, QUIET)
    labs = F.label(ids, people, full)
    kb = np.array(labs[0][0]['keypoints']).reshape(17, 3)
    kf = np.array(labs[1][0]['keypoints']).reshape(17, 3)
    assert np.all(kf[:, 2] == 2)  # the front person: nothing on top of it
    owner = np.where(ids > 0, (ids - 1) // F.PART_SLOTS, -1)
    on_front = np.array([owner[int(round(y)), int(round(x))] == 1 for x, y in kb[:, :2]])
    assert on_front.sum() >= 2 and not on_front.all()
    assert np.all(kb[on_front, 2] == 1) and np.all(kb[~on_front, 2] == 2)
    # the back person's box is its visible part only
    assert labs[0][0]['area'] < full[0] and labs[0][1].sum() == labs[0][0]['area']
    # a person across the left border: points outside are (0, 0, 0), inside labelled
    side = [(_standing(80, 2), np.array([4.0, 60.0]))]
    img, ids, full = F.render(np.random.default_rng(0), W, H, side, QUIET)
    k = np.array(F.label(ids, side, full)[0][0]['keypoints']).reshape(17, 3)
    out = (side[0][0].kpts + side[0][1])[:, 0] < 0
    assert out.any() and np.all(k[out] == 0) and np.all(k[~out, 2] > 0)
    # a foreground object over the hips: v=1 there
    F_cfg = dict(QUIET, occlusion=1.0, front_rate=1.0)
    fig = _standing(80, 3)
    one = [(fig, np.array([70.0, 60.0]))]
    found = False
    for s in range(40):
        img, ids, full = F.render(np.random.default_rng(s), W, H, one, F_cfg)
        k = np.array(F.label(ids, one, full)[0][0]['keypoints']).reshape(17, 3)
        under = np.array([ids[int(round(y)), int(round(x))] < 0 for x, y in k[:, :2]])
        assert np.all(k[under, 2] == 1)
        found |= bool(under.any())
    assert found


def test_loads_with_coco_apis_and_mmpose_bottomup(tiny):
    out, res = tiny
    d = json.load(open(res['train']['ann_file']))
    from pycocotools.coco import COCO
    c = COCO(res['train']['ann_file'])
    assert len(c.getAnnIds()) == len(d['annotations'])
    m = c.annToMask(c.loadAnns(c.getAnnIds())[0])
    assert m.sum() > 0
    xt = pytest.importorskip('xtcocotools.coco')
    assert len(xt.COCO(res['val']['ann_file']).getImgIds()) == 3
    pytest.importorskip('mmpose')
    try:
        from mmpose.datasets import CocoDataset
    except Exception as e:  # broken optional stack: not this module's concern
        pytest.skip(f'mmpose.datasets unavailable: {e}')
    ds = CocoDataset(ann_file=res['train']['ann_file'], data_root=str(out),
                     data_prefix=dict(img='train/'), data_mode='bottomup', test_mode=False,
                     pipeline=[])
    assert len(ds) == len({a['image_id'] for a in d['annotations']})
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert sum(len(i['keypoints']) for i in infos) == len(d['annotations'])
    assert all(not i['invalid_segs'] for i in infos)  # every annotated person is valid
    assert osp.isfile(infos[0]['img_path']) and infos[0]['keypoints'].shape[1:] == (17, 2)


def test_make_data_runner_and_cli_pick_the_family(tmp_path, monkeypatch):
    from benchmarks.learning_benchmark import data as D
    from benchmarks.learning_benchmark.rows import FULL, QUICK, SPLITS
    from benchmarks.learning_benchmark.runner import keyed_budget, row_budget
    assert FULL['family'] == QUICK['family'] == 'figures'
    b = dict(QUICK, num_train=2, num_val=2, min_size=64, max_size=80, family='silhouette')
    root = D.make_data(str(tmp_path), b, SPLITS, log=lambda *a: None)
    stamp = json.load(open(osp.join(root, 'stamp.json')))
    assert stamp['family'] == 'silhouette'
    for name in SPLITS:
        raw = json.load(open(osp.join(root, 'raw', name, 'annotations',
                                      'person_keypoints_val.json')))
        assert raw['info']['contributor'].endswith('silhouette_family')
        v = json.load(open(osp.join(root, D.val_json(name))))
        assert all('crowdIndex' in im for im in v['images'])
    tr = json.load(open(osp.join(root, D.TRAIN_JSON)))
    assert len(tr['images']) == 4
    assert all(osp.isfile(osp.join(root, 'train', im['file_name'])) for im in tr['images'])
    assert osp.isfile(D.coco_to_yolo(root))
    # cache keys: the family is in the silhouette budget, the default's keys stay family-less
    assert row_budget(b, 'erpose-n')['family'] == 'silhouette'
    assert 'family' not in row_budget(FULL, 'erpose-n') and 'family' not in keyed_budget(FULL)
    assert D.generator('silhouette') is F.generate_silhouette_coco
    with pytest.raises(ValueError):
        D.generator('nope')
    from benchmarks.learning_benchmark.recipes import setup_lines
    text = '\n'.join(setup_lines(b, dict(main_seeds=(0,), ablation_seeds=(0,)), root, {}))
    assert 'family `silhouette`' in text and 'silhouette_family' in text
    import benchmarks.learning as L
    monkeypatch.setattr(sys, 'argv', ['learning.py', '--family', 'silhouette'])
    assert L.parse_args().family == 'silhouette'
