"""The training-data check: every fault is reported, fixed or refused; good data goes through."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from mmengine.config import Config

from bad_inputs import break_coco_dataset
from erpose_mm.datasets import generate_synthetic_coco
from erpose_mm.datasets import checked_dataset as checked_mod
from erpose_mm.datasets.checked_dataset import CheckedCocoDataset, use_checked_datasets
from erpose_mm.datasets.checks import DatasetCheckError, check_coco_keypoint_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')
ANN = 'annotations/person_keypoints_train.json'


@pytest.fixture(scope='module')
def pristine(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('pristine'))
    generate_synthetic_coco(root, num_train=16, num_val=2, seed=4, min_size=128, max_size=160,
                            difficulty='easy', empty_frac=0.0, progress=False)
    return root


@pytest.fixture
def data(pristine, tmp_path):
    """A fresh copy of the small set (tests break it) and a private check cache."""
    root = str(tmp_path / 'data')
    shutil.copytree(pristine, root)
    return root


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / 'cache')


def _dataset(root, cache, pipeline=(), **kwargs):
    return CheckedCocoDataset(data_root=root, ann_file=ANN, data_prefix=dict(img='train/'),
                              data_mode='bottomup', pipeline=list(pipeline),
                              metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
                              check_cache_dir=cache, **kwargs)


def _info_of(ds, img_id):
    return next(ds.get_data_info(i) for i in range(len(ds))
                if ds.get_data_info(i)['img_id'] == img_id)


def _check(root, cache):
    return check_coco_keypoint_dataset(osp.join(root, ANN), osp.join(root, 'train/'),
                                       cache_dir=cache)


def test_clean_data_passes_unchanged(data, cache):
    from mmpose.datasets import CocoDataset
    report = _check(data, cache)
    assert report.num_checked == 16 and not (report.bad_images or report.size_mismatches or
                                             report.nan_keypoints or report.box_fixes)
    checked = _dataset(data, cache)
    plain = CocoDataset(data_root=data, ann_file=ANN, data_prefix=dict(img='train/'),
                        data_mode='bottomup', pipeline=[],
                        metainfo=dict(from_file='configs/_base_/datasets/coco.py'))
    assert len(checked) == len(plain) == 16
    for i in range(len(plain)):
        a, b = checked.get_data_info(i), plain.get_data_info(i)
        assert a['img_path'] == b['img_path']
        for key in ('bbox', 'keypoints', 'keypoints_visible', 'area'):
            np.testing.assert_array_equal(a[key], b[key])


def test_every_fault_is_reported_and_fixed_or_skipped(data, cache):
    faults = break_coco_dataset(data)
    report = _check(data, cache)
    bad = {b['id']: b['problem'] for b in report.bad_images}
    undecodable = 'corrupt or not an image (cannot be decoded)'
    assert bad == {faults['missing']['image_id']: 'missing',
                   faults['empty']['image_id']: 'empty file',
                   faults['corrupt']['image_id']: undecodable,
                   # this OpenCV refuses truncated JPEGs; others decode them with a grey
                   # bottom (test_a_truncated_jpeg_that_decodes_is_still_bad)
                   faults['truncated']['image_id']: undecodable}
    text = '\n'.join(report.lines())
    for fault in ('missing', 'empty', 'corrupt', 'truncated'):
        assert faults[fault]['file'] in text, fault  # the report names each bad file
    size = faults['size']
    assert report.size_mismatches == [dict(id=size['image_id'], file=size['file'],
                                           json=list(size['json']), real=list(size['real']))]
    assert [(n['ann_id'], n['count']) for n in report.nan_keypoints] == [
        (faults['nan']['ann_id'], 1)]
    assert [b['ann_id'] for b in report.box_fixes] == [faults['box']['ann_id']]

    # 4 bad of 16 images: refused at the default 5 % ...
    with pytest.raises(DatasetCheckError, match=r'4 of 16 images \(25.0%\) are missing or '
                       r'unreadable, more than the allowed 5%') as err:
        _dataset(data, cache)
    assert '\n' not in str(err.value) and faults['missing']['file'] in str(err.value)
    # ... trained on without them when allowed
    ds = _dataset(data, cache, max_bad_image_fraction=0.3)
    ids = {ds.get_data_info(i)['img_id'] for i in range(len(ds))}
    assert len(ds) == 12 and not ids & set(bad)

    # the real width is used (MMPose clips boxes to the json's width otherwise)
    raw = json.load(open(osp.join(data, ANN)))
    info = _info_of(ds, size['image_id'])
    anns = [a for a in raw['annotations'] if a['image_id'] == size['image_id']]
    x2 = [a['bbox'][0] + a['bbox'][2] for a in anns]
    np.testing.assert_allclose(info['bbox'][:, 2], np.minimum(x2, size['real'][0] - 1),
                               rtol=1e-6)
    assert max(x2) > size['json'][0]  # would have been clipped

    # the NaN keypoint is unlabelled, everything finite
    info = _info_of(ds, faults['nan']['image_id'])
    row = info['id'].index(faults['nan']['ann_id'])
    assert np.isfinite(info['keypoints']).all()
    assert info['keypoints_visible'][row, faults['nan']['keypoint']] == 0
    assert info['keypoints_visible'][row].sum() > 0  # the rest of the person is kept

    # the zero-size box is recomputed from the labelled keypoints
    info = _info_of(ds, faults['box']['image_id'])
    row = info['id'].index(faults['box']['ann_id'])
    kpts, vis = info['keypoints'][row], info['keypoints_visible'][row] > 0
    np.testing.assert_allclose(info['bbox'][row], [*kpts[vis].min(0), *kpts[vis].max(0)],
                               atol=0.01)


def test_a_truncated_jpeg_that_decodes_is_still_bad(data, monkeypatch):
    from erpose_mm.datasets import check_items as checks
    raw = json.load(open(osp.join(data, ANN)))
    path = osp.join(data, 'train', raw['images'][0]['file_name'])
    complete = open(path, 'rb').read()
    # a libjpeg build that decodes what it can (a grey bottom, only a warning)
    monkeypatch.setattr(checks.cv2, 'imdecode',
                        lambda buf, flag: np.zeros((7, 5, 3), np.uint8))
    assert checks.check_image(path) == (None, (5, 7))
    with open(path, 'wb') as f:
        f.write(complete[:len(complete) * 9 // 10])
    assert checks.check_image(path) == ('truncated JPEG (no end marker)', None)


def test_duplicate_image_ids_are_refused(data, cache):
    path = osp.join(data, ANN)
    raw = json.load(open(path))
    raw['images'][3]['id'] = raw['images'][1]['id']
    json.dump(raw, open(path, 'w'))
    dup = raw['images'][1]['id']
    with pytest.raises(DatasetCheckError) as err:
        _dataset(data, cache)
    msg = str(err.value)
    assert msg.startswith(f'{path}: duplicate image ids [{dup}]') and '\n' not in msg


@pytest.mark.parametrize('how', ['no_annotations', 'no_labelled_keypoints'])
def test_a_dataset_without_labelled_people_is_refused(data, cache, how):
    path = osp.join(data, ANN)
    raw = json.load(open(path))
    if how == 'no_annotations':
        raw['annotations'] = []
    else:
        for a in raw['annotations']:
            a['keypoints'] = [0] * len(a['keypoints'])
            a['num_keypoints'] = 0
    json.dump(raw, open(path, 'w'))
    with pytest.raises(DatasetCheckError, match=r'no image with a labelled person') as err:
        _dataset(data, cache)
    assert str(err.value).startswith(path)


def test_report_is_cached_and_invalidated_by_a_changed_image(data, cache):
    first = _check(data, cache)
    assert not first.cached and os.listdir(cache)
    again = _check(data, cache)
    assert again.cached and again.num_checked == first.num_checked
    # an image changes after the check: the cache no longer applies
    raw = json.load(open(osp.join(data, ANN)))
    victim = osp.join(data, 'train', raw['images'][0]['file_name'])
    open(victim, 'wb').close()
    after = _check(data, cache)
    assert not after.cached and [b['file'] for b in after.bad_images] == [victim]
    # a changed json too
    raw['annotations'][0]['keypoints'][0] = float('inf')
    json.dump(raw, open(osp.join(data, ANN), 'w'))
    assert not _check(data, cache).cached


def test_an_image_broken_during_training_is_skipped_with_a_warning(data, cache,
                                                                   monkeypatch):
    logs = []
    monkeypatch.setattr(checked_mod, 'print_log', lambda msg, **kw: logs.append(msg))
    cfg = Config.fromfile(CFG)
    ds = _dataset(data, cache, pipeline=cfg.train_pipeline_stage2)
    test_ds = _dataset(data, cache, pipeline=cfg.val_pipeline, test_mode=True)
    info = ds.get_data_info(0)
    with open(info['img_path'], 'wb') as f:  # changed after the check
        f.write(b'no longer a jpeg')
    item = ds[0]  # another sample instead of an abort
    assert item['data_samples'].img_path != info['img_path']
    warnings = [m for m in logs if 'skipped unreadable image' in m]
    assert len(warnings) == 1 and info['img_path'] in warnings[0]
    # evaluation does not skip: that would change the score
    idx = next(i for i in range(len(test_ds))
               if test_ds.get_data_info(i)['img_path'] == info['img_path'])
    with pytest.raises(Exception, match=osp.basename(info['img_path'])):
        test_ds[idx]


def test_configs_are_swapped_to_checked_datasets():
    for name, checked in (('erpose-n_coco-640.py', 'CheckedCocoDataset'),
                          ('erpose-n_crowdpose-640.py', 'CheckedCrowdPoseDataset')):
        cfg = Config.fromfile(osp.join(REPO, 'configs/erpose', name))
        assert use_checked_datasets(cfg.train_dataloader.dataset,
                                    max_bad_image_fraction=0.1) == []
        assert cfg.train_dataloader.dataset.type == checked
        assert cfg.train_dataloader.dataset.max_bad_image_fraction == 0.1
    wrapped = dict(type='RepeatDataset', times=2, dataset=dict(type='CocoDataset'))
    assert use_checked_datasets(wrapped) == []
    assert wrapped['dataset']['type'] == 'CheckedCocoDataset'
    assert use_checked_datasets(dict(type='OCHumanDataset')) == ['OCHumanDataset']


def _check_tool(data, cache, *extra):
    env = dict(os.environ, OMP_NUM_THREADS='1', ERPOSE_MM_CACHE_DIR=cache)
    return subprocess.run([sys.executable, 'tools/misc/check_dataset.py', CFG, '--cfg-options',
                           f'train_dataloader.dataset.data_root={data}/', *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_check_dataset_tool_prints_the_report_and_fails_like_training(data, cache):
    faults = break_coco_dataset(data, faults=('corrupt', 'nan', 'box'))
    p = _check_tool(data, cache)
    assert p.returncode == 2, p.stderr[-2000:]
    assert f'bad image {faults["corrupt"]["image_id"]} {faults["corrupt"]["file"]}' in p.stdout
    assert f'annotation {faults["nan"]["ann_id"]} of image' in p.stdout
    assert f'degenerate box: annotation {faults["box"]["ann_id"]}' in p.stdout
    err = [line for line in p.stderr.splitlines() if line.startswith('error:')]
    assert len(err) == 1 and '1 of 16 images (6.2%)' in err[0]
    p = _check_tool(data, cache, '--max-bad-images', '0.1')
    assert p.returncode == 0 and '[cached, ' in p.stdout, p.stderr[-2000:]


def _train(data, work, *extra):
    env = dict(os.environ, OMP_NUM_THREADS='1', ERPOSE_MM_CACHE_DIR=osp.join(work, 'cache'))
    opts = [f'train_dataloader.dataset.data_root={data}/', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'train_dataloader.batch_size=4',
            'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1']
    return subprocess.run([sys.executable, 'tools/train.py', CFG, '--work-dir', work,
                           '--no-validate', *extra, '--cfg-options', *opts],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_training_refuses_too_many_bad_images_and_trains_without_them(data, tmp_path):
    faults = break_coco_dataset(data, faults=('missing', 'corrupt'))
    p = _train(data, str(tmp_path / 'refused'))
    assert p.returncode == 2
    out = p.stdout + p.stderr
    assert 'Traceback' not in out
    errors = [line for line in out.splitlines() if 'error: ' in line]
    assert len(errors) == 1 and '2 of 16 images (12.5%)' in errors[0]
    assert not osp.exists(tmp_path / 'refused' / 'epoch_1.pth')

    p = _train(data, str(tmp_path / 'ok'), '--max-bad-images', '0.2')
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    assert faults['missing']['file'] in out and faults['corrupt']['file'] in out
    assert 'Epoch(train) [1][4/4]' in out  # the 14 good images, batch 4
    assert osp.isfile(tmp_path / 'ok' / 'epoch_1.pth')


# ------------------------------------------------------------ damage the check must see
def _annotated(data):
    """(json path, json, {image id: its first labelled annotation}) of the train split."""
    path = osp.join(data, ANN)
    raw = json.load(open(path))
    first = {}
    for a in raw['annotations']:
        if sum(v > 0 for v in a['keypoints'][2::3]) >= 3:
            first.setdefault(a['image_id'], a)
    return path, raw, first


@pytest.mark.parametrize('fill', [b'\xff', b'\x00', b'random'])
def test_a_jpeg_corrupted_in_the_middle_is_bad(data, cache, fill, capfd):
    """libjpeg decodes a JPEG damaged in the middle (the rest grey) with only a warning on
    stderr ("Corrupt JPEG data: ..."); the check counts that warning as damage, and names
    the file."""
    import cv2
    path, raw, first = _annotated(data)
    img = next(i for i in raw['images'] if i['id'] in first)
    victim = osp.join(data, 'train', img['file_name'])
    good = open(victim, 'rb').read()
    capfd.readouterr()
    for frac in (0.3, 0.4, 0.5, 0.6, 0.7):  # a place where the damage gives a warning
        b = bytearray(good)
        mid = int(len(b) * frac)
        b[mid:mid + 64] = bytes(np.random.default_rng(0).integers(0, 256, 64, np.uint8)) \
            if fill == b'random' else fill * 64
        decoded = cv2.imdecode(np.frombuffer(bytes(b), np.uint8), cv2.IMREAD_COLOR)
        if 'Corrupt JPEG data' in capfd.readouterr().err:
            break
    else:
        pytest.fail('no corruption that libjpeg warns about')
    assert decoded is not None and decoded.shape[:2] == (img['height'], img['width'])
    open(victim, 'wb').write(bytes(b))
    report = _check(data, cache)
    assert [(b['id'], b['file']) for b in report.bad_images] == [(img['id'], victim)]
    assert report.bad_images[0]['problem'].startswith('corrupt (decoder warning: Corrupt JPEG '
                                                      'data')
    assert 'Corrupt JPEG data' not in capfd.readouterr().err  # reported, not just printed
    # the report is cached with the finding
    again = _check(data, cache)
    assert again.cached and again.bad_images == report.bad_images


def test_the_cache_sees_a_changed_image_with_its_old_size_and_mtime(data, cache):
    path, raw, first = _annotated(data)
    victim = osp.join(data, 'train', raw['images'][0]['file_name'])
    assert not _check(data, cache).bad_images
    st = os.stat(victim)
    size = st.st_size
    with open(victim, 'wb') as f:
        f.write(b'\x00' * size)  # same size ...
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and mtime
    after = _check(data, cache)
    assert not after.cached and [b['file'] for b in after.bad_images] == [victim]


def test_annotations_of_another_category_are_skipped_or_refused(data, cache):
    path, raw, first = _annotated(data)
    raw['categories'].append(dict(id=18, name='dog', supercategory='animal'))
    per_image = Counter(a['image_id'] for a in raw['annotations'])
    dog = next(a for a in first.values() if per_image[a['image_id']] > 1)
    dog['category_id'] = 18
    json.dump(raw, open(path, 'w'))
    report = _check(data, cache)
    assert report.other_category == [dict(ann_id=dog['id'], image_id=dog['image_id'],
                                          category_id=18)]
    assert report.person_category == [1]
    assert f'  another category: annotation {dog["id"]} of image {dog["image_id"]}: ' \
        'category_id 18, not the person category 1 (skipped)' in report.lines()
    ds = _dataset(data, cache)
    info = _info_of(ds, dog['image_id'])
    assert dog['id'] not in info['id']  # not trained as a person
    # more than --max-bad-images of the annotations: refused, one line
    for a in raw['annotations'][:len(raw['annotations']) // 4]:
        a['category_id'] = 18
    json.dump(raw, open(path, 'w'))
    with pytest.raises(DatasetCheckError, match=r'annotations \(\d+\.\d%\) are of another '
                       r'category or have unusable keypoints, more than the allowed 5%') as err:
        _dataset(data, cache)
    assert str(err.value).startswith(path) and '\n' not in str(err.value)
    assert len(_dataset(data, cache, max_bad_image_fraction=0.3)) > 0


def test_one_image_file_under_two_image_ids_is_refused(data, cache):
    path, raw, first = _annotated(data)
    a, b = [i for i in raw['images'] if i['id'] in first][:2]
    b['file_name'] = a['file_name']
    json.dump(raw, open(path, 'w'))
    with pytest.raises(DatasetCheckError) as err:
        _check(data, cache)
    msg = str(err.value)
    assert msg.startswith(f'{path}: image file {osp.join(data, "train", a["file_name"])} is '
                          f'listed under image ids [{a["id"]}, {b["id"]}]')
    assert '\n' not in msg


def test_keypoint_counts_and_values_that_cannot_be_trained_on(data, cache):
    """14 keypoints in one annotation of a 17-keypoint dataset, a keypoint that is a string:
    listed, skipped; 14 in every annotation: refused with one line naming the count."""
    path, raw, first = _annotated(data)
    per_image = Counter(a['image_id'] for a in raw['annotations'])
    short, text = [a for a in first.values() if per_image[a['image_id']] > 1][:2]
    short['keypoints'] = short['keypoints'][:42]
    text['keypoints'][4] = 'abc'
    json.dump(raw, open(path, 'w'))
    report = check_coco_keypoint_dataset(path, osp.join(data, 'train/'), cache_dir=cache,
                                         num_keypoints=17)
    assert [(a['ann_id'], a['problem']) for a in report.bad_annotations] == [
        (short['id'], '42 keypoint values (14 keypoints); the dataset metainfo defines 17 '
         'keypoints (51 values)'),
        (text['id'], "keypoint value 4 (y of keypoint 1) is 'abc', not a number")]
    ds = _dataset(data, cache, max_bad_image_fraction=0.2)
    assert short['id'] not in _info_of(ds, short['image_id'])['id']
    assert text['id'] not in _info_of(ds, text['image_id'])['id']
    for a in raw['annotations']:
        a['keypoints'] = a['keypoints'][:42]
    json.dump(raw, open(path, 'w'))
    with pytest.raises(DatasetCheckError) as err:
        _dataset(data, cache)
    msg = str(err.value)
    assert msg.startswith(f'{path}: none of its {len(raw["annotations"])} annotations can be '
                          f'trained on (first: annotation {raw["annotations"][0]["id"]} of image')
    assert msg.endswith('every annotation has 14 keypoints: train a 14-keypoint dataset with '
                        'a 14-keypoint config (e.g. the *_crowdpose-* configs for 14-keypoint '
                        'CrowdPose; docs/custom_keypoints.md)') and '\n' not in msg


@pytest.mark.slow
@pytest.mark.parametrize('value', ['-1', '1.5', 'nan'])
def test_max_bad_images_outside_0_1_is_refused(data, cache, value):
    p = _check_tool(data, cache, '--max-bad-images', value)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1] == (
        f'error: --max-bad-images {float(value)!r}: expected a fraction in [0, 1] (0.05 = '
        'at most 5% bad images / annotations)')
    with pytest.raises(DatasetCheckError, match='expected a fraction in'):
        _dataset(data, cache, max_bad_image_fraction=float(value))


@pytest.mark.slow
def test_training_refuses_keypoint_counts_and_bad_flags_with_one_line(data, tmp_path):
    path, raw, first = _annotated(data)
    for a in raw['annotations']:
        a['keypoints'] = a['keypoints'][:42]
    json.dump(raw, open(path, 'w'))
    for extra, expect in (((), 'every annotation has 14 keypoints'),
                          (('--max-bad-images', '-1'), 'error: --max-bad-images -1.0: expected '
                           'a fraction in [0, 1]')):
        p = _train(data, str(tmp_path / 'work'), *extra)
        out = p.stdout + p.stderr
        assert p.returncode == 2 and 'Traceback' not in out, out[-3000:]
        last = p.stderr.strip().splitlines()[-1]
        assert last.startswith('error: ') and expect in last
        assert [line for line in out.splitlines() if 'error: ' in line] == [last]
