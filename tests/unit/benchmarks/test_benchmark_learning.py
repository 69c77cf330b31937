"""Fast checks of the learning benchmark's pieces (benchmarks/learning_benchmark, benchmarks/
common): crowd index, duplicate / missed counting, cache keys, mean ± std and the rank rule,
COCO -> YOLO label conversion. No training, no /work/shared data."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from benchmarks.common.cache import ResultCache, content_hash, result_key
from benchmarks.common.stats import compare, fmt_mean_std, mean_std
from benchmarks.learning_benchmark.data import coco_to_yolo, crowd_index, yolo_label_line
from benchmarks.learning_benchmark.runner import plan
from benchmarks.learning_benchmark.scoring import match_diagnostics


def person(x0, y0, w, h, kpts, image_id=1, ann_id=1):
    """A COCO person: box (x0, y0, w, h); kpts: list of (x, y) labelled points (v=2),
    padded to 17 with unlabelled ones."""
    k = []
    for i in range(17):
        if i < len(kpts):
            k += [float(kpts[i][0]), float(kpts[i][1]), 2]
        else:
            k += [0.0, 0.0, 0]
    return dict(id=ann_id, image_id=image_id, category_id=1, bbox=[x0, y0, w, h],
                area=w * h, iscrowd=0, keypoints=k, num_keypoints=len(kpts))


# ------------------------------------------------------------------ crowd index
def test_crowd_index_counts_other_peoples_joints_in_each_box():
    # A: box 0..100, 4 joints inside it; B: box 50..150, 2 joints, both inside A's box
    # (x 60, 70) ; A's joints at x 10, 20, 60, 90: two of them (60, 90) lie in B's box
    a = person(0, 0, 100, 100, [(10, 10), (20, 20), (60, 30), (90, 40)], ann_id=1)
    b = person(50, 0, 100, 100, [(60, 50), (70, 60)], ann_id=2)
    # A: N_b = 2 (B's joints in A's box) / N_a = 4 -> 0.5; B: N_b = 2 / N_a = 2 -> 1.0
    assert crowd_index([a, b]) == pytest.approx((0.5 + 1.0) / 2)


def test_crowd_index_zero_for_separate_people_and_ignores_crowd_regions():
    a = person(0, 0, 50, 50, [(10, 10), (20, 20)], ann_id=1)
    b = person(200, 200, 50, 50, [(210, 210)], ann_id=2)
    crowd = dict(person(0, 0, 300, 300, [(15, 15)] * 5, ann_id=3), iscrowd=1)
    assert crowd_index([a, b, crowd]) == 0.0
    assert crowd_index([]) == 0.0
    # a person without labelled joints does not count as a person (no division by zero)
    assert crowd_index([a, person(0, 0, 50, 50, [], ann_id=4)]) == 0.0


# ------------------------------------------------------------------ duplicates / missed
def _gt(people):
    return dict(images=[dict(id=1, width=400, height=400)], annotations=people,
                categories=[dict(id=1, name='person')])


def _pred(kpts_of_person, score, shift=0.0):
    k = np.asarray(kpts_of_person['keypoints'], float).reshape(17, 3).copy()
    k[:, 0] += shift
    k[:, 2] = 1.0
    return dict(image_id=1, category_id=1, keypoints=k.reshape(-1).tolist(), score=score)


def _body(x0):
    return [(x0 + 10 + 3 * i, 20 + 8 * i) for i in range(17)]


def test_duplicates_and_missed_on_hand_made_predictions():
    a = person(0, 0, 80, 160, _body(0), ann_id=1)
    b = person(200, 0, 80, 160, _body(200), ann_id=2)
    c = person(300, 200, 80, 160, [(310 + i, 210 + 8 * i) for i in range(17)], ann_id=3)
    preds = [_pred(a, 0.9), _pred(a, 0.8, shift=1.0),   # A twice: one duplicate
             _pred(b, 0.5),                              # B once
             _pred(a, 0.2, shift=2.0)]                   # below 0.3, a duplicate at 0.1
    preds.append(dict(image_id=1, category_id=1, score=0.6,  # far from everyone
                      keypoints=[399.0, 399.0, 1.0] * 17))
    d3 = match_diagnostics(_gt([a, b, c]), preds, score_thr=0.3)
    assert (d3['people'], d3['preds'], d3['matched']) == (3, 4, 2)
    assert (d3['duplicates'], d3['false_pos'], d3['missed']) == (1, 1, 1)   # C is missed
    assert d3['dup_rate'] == pytest.approx(1 / 3) and d3['miss_rate'] == pytest.approx(1 / 3)
    d1 = match_diagnostics(_gt([a, b, c]), preds, score_thr=0.1)
    assert (d1['duplicates'], d1['missed'], d1['matched']) == (2, 1, 2)


def test_label_predictions_marks_each_prediction_and_ranks_them():
    from benchmarks.learning_benchmark.ranking import ranking_stats
    from benchmarks.learning_benchmark.scoring import label_predictions
    a = person(0, 0, 80, 160, _body(0), ann_id=1)
    b = person(200, 0, 80, 160, _body(200), ann_id=2)
    far = dict(image_id=1, category_id=1, score=0.6, keypoints=[399.0, 399.0, 1.0] * 17)
    preds = [_pred(a, 0.9), _pred(a, 0.7, shift=1.0), _pred(b, 0.5), far]
    lab = label_predictions(_gt([a, b]), preds)
    assert [(s, k) for s, k, _ in lab] == [(0.9, 'tp'), (0.7, 'dup'), (0.6, 'fp'), (0.5, 'tp')]
    assert lab[0][2] == pytest.approx(1.0) and lab[2][2] < 0.5
    st = ranking_stats(lab)
    assert (st['preds'], st['tp'], st['dup'], st['fp']) == (4, 2, 1, 1)
    # tp scores 0.9 and 0.5 against 0.7 and 0.6: 2 of the 4 pairs ordered right
    assert st['auc'] == pytest.approx(0.5)
    only_tp = ranking_stats(label_predictions(_gt([a, b]), [preds[0], preds[2]]))
    assert only_tp['tp'] == 2 and np.isnan(only_tp['auc'])  # nothing to rank against


def test_lower_scored_prediction_of_a_free_person_is_not_a_duplicate():
    a = person(0, 0, 80, 160, _body(0), ann_id=1)
    b = person(30, 0, 80, 160, _body(30), ann_id=2)   # overlapping neighbours
    d = match_diagnostics(_gt([a, b]), [_pred(a, 0.9), _pred(b, 0.8)], score_thr=0.3)
    assert (d['matched'], d['duplicates'], d['missed']) == (2, 0, 0)


# ------------------------------------------------------------------ cache keys
def test_result_key_changes_with_seed_budget_and_code_only():
    b = dict(batch=4, epochs=8)
    k = result_key('erpose-n', 0, b, 'abc')
    assert k == result_key('erpose-n', 0, dict(epochs=8, batch=4), 'abc')  # order-free
    others = {result_key('erpose-n', 1, b, 'abc'), result_key('erpose-n', 0, dict(b, epochs=9),
              'abc'), result_key('erpose-n', 0, b, 'abd'), result_key('box-iou', 0, b, 'abc')}
    assert k not in others and len(others) == 4


def test_content_hash_follows_file_contents(tmp_path):
    (tmp_path / 'pkg').mkdir()
    (tmp_path / 'pkg' / 'a.py').write_text('x = 1\n')
    (tmp_path / 'pkg' / 'notes.txt').write_text('ignored')
    h1 = content_hash(str(tmp_path), ['pkg'])
    (tmp_path / 'pkg' / 'notes.txt').write_text('still ignored')
    assert content_hash(str(tmp_path), ['pkg']) == h1
    (tmp_path / 'pkg' / 'a.py').write_text('x = 2\n')
    assert content_hash(str(tmp_path), ['pkg']) != h1
    with pytest.raises(FileNotFoundError, match='missing'):
        content_hash(str(tmp_path), ['missing'])


def test_result_cache_survives_reload_and_returns_only_finished(tmp_path):
    path = str(tmp_path / 'results.json')
    c = ResultCache(path)
    c.put('a', dict(status='ok', ap=0.5))
    c.put('b', dict(status='failed: boom'))
    c2 = ResultCache(path)
    assert c2.get('a') == dict(status='ok', ap=0.5)
    assert c2.get('b') is None and c2.get('c') is None
    with open(path, 'w') as f:
        f.write('{broken')
    with pytest.raises(SystemExit, match='not valid JSON'):
        ResultCache(path)


def test_result_cache_keeps_rows_of_two_processes_sharing_the_file(tmp_path):
    path = str(tmp_path / 'results.json')
    first, second = ResultCache(path), ResultCache(path)  # both loaded the empty file
    first.put('row-a', dict(status='ok', ap=0.1))
    second.put('row-b', dict(status='ok', ap=0.2))
    first.put('row-c', dict(status='ok', ap=0.3))
    merged = ResultCache(path)
    assert {k: merged.get(k)['ap'] for k in ('row-a', 'row-b', 'row-c')} == {
        'row-a': 0.1, 'row-b': 0.2, 'row-c': 0.3}


def test_plan_runs_every_rows_first_seed_before_second_seeds():
    runs = plan(['erpose-n', 'mah-nms', 'box-oks'], main_seeds=(0, 1, 2), ablation_seeds=(0,))
    # mah-nms is a decoding of erpose-n: no run of its own
    assert runs == [('erpose-n', 0), ('box-oks', 0), ('erpose-n', 1), ('erpose-n', 2)]


# ------------------------------------------------------------------ mean ± std, ranks
def test_mean_std_and_formatting():
    m, s, n = mean_std([0.10, 0.12, 0.14])
    assert (round(m, 6), round(s, 6), n) == (0.12, 0.02, 3)
    assert fmt_mean_std([0.10, 0.12, 0.14]) == '12.0 ± 2.0'
    assert fmt_mean_std([0.1234]) == '12.3'
    assert fmt_mean_std([]) == '-'
    assert fmt_mean_std([1.5, 2.5], scale=1, nd=2) == '2.00 ± 0.71'


def test_rank_needs_gap_above_the_larger_std():
    assert compare([0.30, 0.32, 0.34], [0.20, 0.21, 0.22]) == '>'    # gap 0.11 > std 0.02
    assert compare([0.20, 0.21, 0.22], [0.30, 0.32, 0.34]) == '<'
    assert compare([0.30, 0.40, 0.50], [0.28, 0.30, 0.32]) == '~'    # gap 0.10 = std 0.10
    assert compare([0.3], [0.2]) == '~'                              # one seed each: no rank
    assert compare([0.30], [0.20, 0.21, 0.22]) == '>'                # other side's std counts
    assert compare([], [0.2]) is None


# ------------------------------------------------------------------ COCO -> YOLO
def test_yolo_label_line_normalises_box_and_keypoints():
    ann = person(10, 20, 40, 80, [(30, 40), (50, 100)])
    ann['keypoints'][5] = 1  # second point: labelled but occluded (v=1) is kept as 1
    line = yolo_label_line(ann, width=200, height=100).split()
    assert line[0] == '0' and len(line) == 1 + 4 + 17 * 3
    assert [float(v) for v in line[1:5]] == pytest.approx([0.15, 0.6, 0.2, 0.8])
    assert [float(v) for v in line[5:11]] == pytest.approx([0.15, 0.4, 2, 0.25, 1.0, 1])
    assert line[11:14] == ['0.000000', '0.000000', '0']  # unlabelled point
    assert yolo_label_line(dict(ann, bbox=[0, 0, 0, 5]), 200, 100) == ''


def test_coco_to_yolo_writes_labels_lists_and_yaml(tmp_path):
    root = tmp_path / 'data'
    for split in ('train', 'val'):
        (root / split).mkdir(parents=True)
    (root / 'annotations').mkdir()
    imgs = [dict(id=1, file_name='mixed_a.jpg', width=200, height=100),
            dict(id=2, file_name='mixed_b.jpg', width=100, height=100)]  # b: no people
    anns = [person(10, 20, 40, 80, [(30, 40)], image_id=1, ann_id=1),
            dict(person(0, 0, 50, 50, [], image_id=1, ann_id=2), iscrowd=1)]
    for split in ('train', 'val'):
        with open(root / 'annotations' / f'person_keypoints_{split}.json', 'w') as f:
            json.dump(dict(images=imgs, annotations=anns, categories=[]), f)
    y = coco_to_yolo(str(root) + '/')
    yroot = osp.dirname(y)
    text = open(y).read()
    assert 'kpt_shape: [17, 3]' in text and 'flip_idx: [0, 2, 1, 4, 3' in text
    train_list = open(osp.join(yroot, 'train.txt')).read().split()
    val_list = open(osp.join(yroot, 'val.txt')).read().split()
    assert [osp.basename(p) for p in train_list] == ['mixed_a.jpg']   # annotated only
    assert [osp.basename(p) for p in val_list] == ['mixed_a.jpg', 'mixed_b.jpg']
    lab = open(osp.join(yroot, 'labels', 'train', 'mixed_a.txt')).read().splitlines()
    assert len(lab) == 1 and lab[0].startswith('0 0.150000 0.600000 0.200000 0.800000 ')
    assert open(osp.join(yroot, 'labels', 'val', 'mixed_b.txt')).read() == ''
    assert osp.realpath(osp.join(yroot, 'images', 'train')) == osp.realpath(str(root / 'train'))


def _fake_bench_data(root):
    """A data root in make_data's layout: 3 mixed and 2 crowded training images."""
    os.makedirs(osp.join(root, 'train'))
    os.makedirs(osp.join(root, 'annotations'))
    images, anns = [], []
    for i, name in enumerate(['crowded_000001.jpg', 'mixed_000001.jpg', 'mixed_000002.jpg',
                              'crowded_000002.jpg', 'mixed_000003.jpg']):
        images.append(dict(id=10 + i, file_name=name, width=64, height=64))
        anns.append(person(0, 0, 10, 20, [(5, 5)] * 17, image_id=10 + i, ann_id=100 + i))
        with open(osp.join(root, 'train', name), 'wb') as f:
            f.write(name.encode())
    with open(osp.join(root, 'annotations', 'person_keypoints_train.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=[]), f)


def test_overfit_subset_is_its_own_val_set_of_one_split(tmp_path):
    from benchmarks.learning_benchmark.overfit import overfit_budget, subset_data
    src = str(tmp_path / 'src')
    _fake_bench_data(src)
    root = subset_data(src, str(tmp_path / 'sub'), 2, 'mixed')
    tr = json.load(open(osp.join(root, 'annotations', 'person_keypoints_train.json')))
    va = json.load(open(osp.join(root, 'annotations', 'person_keypoints_val.json')))
    assert tr == va
    assert [im['file_name'] for im in tr['images']] == ['mixed_000001.jpg', 'mixed_000002.jpg']
    assert sorted(a['image_id'] for a in tr['annotations']) == [11, 12]
    for sp in ('train', 'val'):
        assert sorted(os.listdir(osp.join(root, sp))) == ['mixed_000001.jpg', 'mixed_000002.jpg']
    with pytest.raises(ValueError, match='only 2 training images'):
        subset_data(src, str(tmp_path / 'sub2'), 3, 'crowded')
    b = overfit_budget(8, 400, 4, 40, 0.5)
    assert (b['epochs'], b['ckpt_epochs'], b['batch']) == (200, [100, 200], 4)
    with pytest.raises(ValueError, match='multiple of'):
        overfit_budget(6, 400, 4, 40, 0.5)


def test_overfit_row_saves_only_the_evaluated_checkpoints(tmp_path):
    from benchmarks.learning_benchmark.mm_worker import build_mm_cfg
    from benchmarks.learning_benchmark.overfit import overfit_budget, row_spec
    b = overfit_budget(8, 300, 4, 40, 0.5)  # 150 epochs -> evaluated at 75 and 150
    assert b['ckpt_epochs'] == [75, 150]
    spec = row_spec('erpose-n', 0, b, str(tmp_path) + '/', str(tmp_path / 'row'), 1)
    cfg, _ = build_mm_cfg(spec, iters_per_epoch=2)
    hook = cfg.default_hooks.checkpoint
    assert hook.interval == 75 and cfg.train_cfg.max_epochs == 150
    with pytest.raises(ValueError, match="kind 'mm'"):
        row_spec('yolov8n-pose', 0, b, '', '', 1)


def test_rtmo_dcc_alone_reads_labelled_people_and_trains(tmp_path):
    from benchmarks.learning_benchmark.rtmo_dcc_alone import load_people, train_dcc
    kp = [v for j in range(17) for v in (40 + 3 * j, 30 + 5 * j, 2)]
    anns = [dict(id=1, image_id=1, bbox=[30, 20, 60, 100], keypoints=kp, num_keypoints=17),
            dict(id=2, image_id=1, bbox=[0, 0, 9, 9], keypoints=[0] * 51, num_keypoints=0),
            dict(id=3, image_id=1, bbox=[5, 5, 50, 80], keypoints=kp, num_keypoints=17,
                 iscrowd=1),
            dict(id=4, image_id=1, bbox=[100, 40, 50, 90],
                 keypoints=[v + (100 if i % 3 == 0 else 0) for i, v in enumerate(kp)],
                 num_keypoints=17)]
    ann = tmp_path / 'a.json'
    ann.write_text(json.dumps(dict(images=[], annotations=anns)))
    kpts, vis, xyxy, areas = load_people(str(ann), 32)
    assert kpts.shape == (2, 17, 2) and vis.sum() == 34  # unlabelled and crowd people left out
    assert xyxy[1].tolist() == [100, 40, 150, 130] and areas.tolist() == [6000, 4500]
    recs = train_dcc((kpts, vis, xyxy, areas), lr=4e-4, steps=4, every=2)
    assert [r['step'] for r in recs] == [0, 2, 4]
    assert all(0 <= r['oks'] <= 1 and 0 < r['peak'] <= 1 for r in recs)
    with pytest.raises(SystemExit, match='no such annotation file'):
        load_people(str(tmp_path / 'missing.json'), 4)
