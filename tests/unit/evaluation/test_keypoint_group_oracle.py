"""tools/analysis/keypoint_group_oracle.py on hand-made predictions with known errors."""
import contextlib
import io
import json
import numpy as np
import pytest

from tools.analysis import keypoint_group_oracle as tool


def _person(cx, cy, h=160.0):
    rng = np.random.default_rng(int(cx))
    xy = np.array([cx, cy]) + rng.uniform(-0.2, 0.2, (17, 2)) * h
    return np.concatenate([xy, np.full((17, 1), 2.0)], 1)


@pytest.fixture()
def gt(tmp_path):
    from pycocotools.coco import COCO
    people = {1: [_person(100, 120)], 2: [_person(200, 150), _person(330, 150)]}
    images, anns = [], []
    for img_id, ps in people.items():
        images.append(dict(id=img_id, file_name=f'{img_id}.jpg', width=480, height=320))
        for k in ps:
            x0, y0 = k[:, :2].min(0)
            x1, y1 = k[:, :2].max(0)
            anns.append(dict(id=len(anns) + 1, image_id=img_id, category_id=1, iscrowd=0,
                             keypoints=k.reshape(-1).tolist(), num_keypoints=17,
                             bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0) * 0.5))
    path = tmp_path / 'gt.json'
    json.dump(dict(images=images, annotations=anns,
                   categories=[dict(id=1, name='person', supercategory='person')]),
              open(path, 'w'))
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path)), str(path)


def _preds(coco, shift=None):
    """One prediction per person: the ground truth, with ``shift[group] = px`` added."""
    out = []
    for a in coco.loadAnns(coco.getAnnIds()):
        k = np.asarray(a['keypoints'], float).reshape(-1, 3).copy()
        for name, px in (shift or {}).items():
            k[tool.GROUPS[name], 0] += px
        out.append(dict(image_id=a['image_id'], category_id=1, score=0.9,
                        keypoints=k.reshape(-1).tolist()))
    return out


def test_perfect_predictions_score_one_everywhere(gt):
    coco, _ = gt
    res = tool.group_oracle_ap(coco, _preds(coco))
    assert res['AP'] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in res.values())


def test_only_the_group_that_is_wrong_recovers_the_ap(gt):
    coco, _ = gt
    res = tool.group_oracle_ap(coco, _preds(coco, {'elbows_wrists': 12.0}))
    assert res['AP'] < 0.9
    assert res['elbows_wrists'] == pytest.approx(1.0)
    for name in ('face', 'shoulders_hips', 'knees_ankles'):
        assert res[name] == pytest.approx(res['AP'])


def test_two_wrong_groups_each_recover_part(gt):
    coco, _ = gt
    res = tool.group_oracle_ap(coco, _preds(coco, {'face': 4.0, 'knees_ankles': 15.0}))
    assert res['AP'] < res['face'] < 1.0 and res['AP'] < res['knees_ankles'] < 1.0
    assert res['shoulders_hips'] == pytest.approx(res['AP'])


def test_cli_prints_the_gains_and_rejects_other_keypoint_counts(gt, tmp_path, capsys):
    coco, path = gt
    pred_path = tmp_path / 'preds.json'
    json.dump(_preds(coco, {'face': 6.0}), open(pred_path, 'w'))
    tool.main([path, str(pred_path)])
    text = capsys.readouterr().out
    assert 'AP with face set to ground truth: 1.000' in text
    bad = [dict(image_id=1, category_id=1, score=0.5, keypoints=[0.0] * 14 * 3)]
    with pytest.raises(ValueError, match='14 keypoints'):
        tool.group_oracle_ap(coco, bad)
