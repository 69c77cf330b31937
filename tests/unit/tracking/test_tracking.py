"""PoseTracker (erpose_mm/tracking): ID switches on a synthetic sequence of people walking
across, crossing and occluding each other (ground-truth keypoint tracks with noise, missed
detections, low scores under occlusion and false positives), the CLEAR-MOT counting, and
the tracker's basic rules. Pure numpy; needs no data and no model."""
import numpy as np
import pytest

from erpose_mm.tracking import PoseTracker, clear_mot, make_walking_scene, run_tracker
from erpose_mm.runtime.tracker import visible_oks_matrix
from erpose_mm.tracking.synthetic_walks import ground_truth_as_tracks, walking_pose

SEEDS = range(4)


@pytest.fixture(scope='module')
def scenes():
    return [make_walking_scene(seed=s) for s in SEEDS]


def test_metric_counts_known_errors(scenes):
    gt = scenes[0]['gt_frames']
    perfect = clear_mot(gt, ground_truth_as_tracks(gt))
    assert perfect['idsw'] == perfect['fn'] == perfect['fp'] == 0 and perfect['mota'] == 1.0
    # swap two people's IDs from frame 60 on: exactly 2 switches (one per person)
    swapped = ground_truth_as_tracks(gt)
    a, b = gt[60][0]['id'], gt[60][1]['id']
    for frame in swapped[60:]:
        for p in frame:
            p['track_id'] = {a: b, b: a}.get(p['track_id'], p['track_id'])
    assert clear_mot(gt, swapped)['idsw'] == 2
    # drop a frame's outputs and add a far-away false one
    broken = ground_truth_as_tracks(gt)
    n = len(broken[10])
    broken[10] = []
    broken[11].append(dict(track_id=99, keypoints=np.full((17, 2), -500.0)))
    m = clear_mot(gt, broken)
    assert (m['fn'], m['fp'], m['idsw']) == (n, 1, 0)


def test_scene_has_crossings_and_occlusion(scenes):
    for sc in scenes:
        assert len(sc['crossings']) >= 4
        # some people are partly hidden (fewer visible keypoints than inside the image)
        assert any(not g['visible'].all() for f in sc['gt_frames'] for g in f)
        assert any(d['bbox_score'] < 0.5 for f in sc['det_frames'] for d in f)


def test_tracker_id_switches_on_crossings(scenes):
    """At most one ID switch per crossing (target), far fewer in practice; the
    constant-velocity prediction is what keeps IDs apart at crossings."""
    tot = dict(idsw=0, cross=0, idsw_static=0)
    for sc in scenes:
        m = clear_mot(sc['gt_frames'], run_tracker(PoseTracker(high_thr=0.3),
                                                   sc['det_frames']))
        static = clear_mot(sc['gt_frames'], run_tracker(
            PoseTracker(high_thr=0.3, use_velocity=False), sc['det_frames']))
        assert m['idsw'] <= len(sc['crossings']), m
        assert m['mota'] > 0.7 and m['fp'] <= 0.03 * m['num_gt'], m
        tot['idsw'] += m['idsw']
        tot['idsw_static'] += static['idsw']
        tot['cross'] += len(sc['crossings'])
    print(f"\n[tracking] {tot['idsw']} ID switches in {tot['cross']} crossings "
          f"(without motion: {tot['idsw_static']})")
    assert tot['idsw'] <= 0.25 * tot['cross']
    assert tot['idsw_static'] >= 3 * max(tot['idsw'], 1)


def test_low_score_detections_extend_tracks_only():
    """ByteTrack rule: a low-score detection continues a track but never starts one."""
    pose = walking_pose(100, 300, 200, 0.0)
    ks = np.full((1, 17), 0.9)
    t = PoseTracker(high_thr=0.5, low_thr=0.1)
    assert t.update(pose[None], ks, np.array([0.2])).tolist() == [-1]   # no birth
    t.reset()
    assert t.update(pose[None], ks, np.array([0.9])).tolist() == [0]    # first frame
    assert t.update(pose[None] + 3, ks, np.array([0.2])).tolist() == [0]  # low extends


def test_birth_needs_two_frames_and_death_after_max_age():
    a, b = walking_pose(100, 300, 200, 0.0), walking_pose(600, 300, 200, 0.0)
    ks = np.full((2, 17), 0.9)
    t = PoseTracker(max_age=3)
    t.update(a[None], ks[:1], np.array([0.9]))                 # frame 0: id 0 at once
    ids = t.update(np.stack([a, b]), ks, np.array([0.9, 0.9]))
    assert ids.tolist() == [0, -1]                              # b is tentative
    ids = t.update(np.stack([b, a]), ks, np.array([0.9, 0.9]))
    assert ids.tolist() == [1, 0]                               # b confirmed, order-free
    for _ in range(3):                                          # a gone for 3 frames: kept
        t.update(b[None], ks[:1], np.array([0.9]))
    assert t.update(np.stack([a, b]), ks, np.array([0.9, 0.9])).tolist() == [0, 1]
    for _ in range(4):                                          # gone for 4 > max_age
        t.update(b[None], ks[:1], np.array([0.9]))
    t.update(np.stack([a, b]), ks, np.array([0.9, 0.9]))
    assert t.update(np.stack([a, b]), ks, np.array([0.9, 0.9])).tolist() == [2, 1]


def test_velocity_prediction_bridges_occlusion():
    """Two people cross; one is not detected for 8 frames while hidden. With the
    constant-velocity prediction both keep their IDs; without it, IDs switch or are lost."""
    def run(use_velocity):
        t = PoseTracker(use_velocity=use_velocity)
        ids = []
        for f in range(40):
            xa, xb = 100 + 12 * f, 580 - 12 * f
            poses = [walking_pose(xa, 400, 200, 0.3 * f)]
            if not 16 <= f < 24:                               # b hidden behind a
                poses.append(walking_pose(xb, 390, 190, 0.3 * f))
            ids.append(t.update(np.stack(poses), np.full((len(poses), 17), 0.9),
                                np.full(len(poses), 0.9)).tolist())
        return ids
    with_v = run(True)
    assert all(f[0] == 0 for f in with_v) and with_v[-1] == [0, 1]
    without = run(False)
    assert without[-1] != [0, 1]


def test_visible_oks_matrix_basics():
    k = walking_pose(100, 300, 200, 0.0)[None]
    vis = np.ones((1, 17), bool)
    area = np.array([[200.0 * 60]])
    same = visible_oks_matrix(k, vis, k, vis, area, np.full(17, 0.07))[0, 0]
    assert same == pytest.approx(1.0)
    far = visible_oks_matrix(k, vis, k + 100, vis, area, np.full(17, 0.07))[0, 0]
    assert far < 0.01
    none = visible_oks_matrix(k, vis, k, np.zeros((1, 17), bool), area, np.full(17, 0.07))
    assert none[0, 0] == 0.0
