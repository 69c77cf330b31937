import torch
from mmengine.structures import InstanceData

from erpose_mm.models.task_modules import KeypointDrivenAssigner, pairwise_oks

K = 4
SIGMAS = torch.full((K,), 0.1)


def _gt(boxes, kpts, vis=None):
    boxes = torch.tensor(boxes, dtype=torch.float32)
    kpts = torch.tensor(kpts, dtype=torch.float32)
    vis = torch.ones(kpts.shape[:2]) if vis is None else torch.tensor(vis, dtype=torch.float32)
    wh = boxes[:, 2:] - boxes[:, :2]
    return InstanceData(bboxes=boxes, keypoints=kpts, keypoints_visible=vis, areas=wh.prod(-1))


def _pred(priors, kpts, scores=None, bboxes=None, stride=8.0):
    priors = torch.tensor(priors, dtype=torch.float32)
    p = InstanceData(priors=priors, strides=torch.full((len(priors),), stride),
                     keypoints=torch.tensor(kpts, dtype=torch.float32),
                     scores=torch.full((len(priors),), 0.5) if scores is None
                     else torch.tensor(scores, dtype=torch.float32))
    if bboxes is not None:
        p.bboxes = torch.tensor(bboxes, dtype=torch.float32)
    return p


PERSON = [[10, 10], [30, 10], [10, 50], [30, 50]]   # box 10..30 x 10..50


def test_prefers_best_oks_over_best_box_iou():
    gt = _gt([[10, 10, 30, 50]], [PERSON])
    # cell 0: perfect box, poor keypoints; cell 1: poor box, perfect keypoints
    bad = [[x + 6, y + 6] for x, y in PERSON]
    pred = _pred([[20, 30], [22, 28]], [bad, PERSON],
                 bboxes=[[10, 10, 30, 50], [14, 14, 30, 44]])
    oks_res = KeypointDrivenAssigner(topk=1, metric='oks').assign(pred, gt, SIGMAS)
    iou_res = KeypointDrivenAssigner(topk=1, metric='iou').assign(pred, gt, SIGMAS)
    assert oks_res['gt_inds'].tolist() == [-1, 0]
    assert iou_res['gt_inds'].tolist() == [0, -1]


def test_score_is_conf_alpha_times_oks_beta():
    gt = _gt([[10, 10, 30, 50]], [PERSON])
    off = [[x + 2, y] for x, y in PERSON]
    pred = _pred([[20, 30], [22, 28]], [PERSON, off], scores=[0.01, 0.9])
    res = KeypointDrivenAssigner(topk=1, alpha=0.5, beta=6).assign(pred, gt, SIGMAS)
    oks = pairwise_oks(pred.keypoints, gt.keypoints, gt.keypoints_visible, gt.areas, SIGMAS)[0]
    expect = torch.tensor([0.01, 0.9]).sqrt() * oks ** 6
    assert res['gt_inds'].tolist()[int(expect.argmax())] == 0
    assert torch.isclose(res['align'].max(), expect.max())
    # with beta=0 only the confidence matters
    res0 = KeypointDrivenAssigner(topk=1, beta=0).assign(pred, gt, SIGMAS)
    assert res0['gt_inds'].tolist() == [-1, 0]


def test_one_to_one_gives_exactly_one_positive_per_person_and_topk_many():
    gt = _gt([[0, 0, 40, 40], [60, 0, 100, 40]],
             [[[5, 5], [35, 5], [5, 35], [35, 35]], [[65, 5], [95, 5], [65, 35], [95, 35]]])
    ys, xs = torch.meshgrid(torch.arange(4, 104, 8.0), torch.arange(4, 104, 8.0), indexing='ij')
    priors = torch.stack([xs.flatten(), ys.flatten()], -1)
    kpts = gt.keypoints[0][None].repeat(len(priors), 1, 1) + torch.randn(len(priors), K, 2)
    kpts[priors[:, 0] > 50] += torch.tensor([60.0, 0.0])
    pred = _pred(priors.tolist(), kpts.tolist(), scores=torch.rand(len(priors)).tolist())
    one = KeypointDrivenAssigner(topk=1).assign(pred, gt, SIGMAS)['gt_inds']
    assert sorted(one[one >= 0].tolist()) == [0, 1]
    many = KeypointDrivenAssigner(topk=5).assign(pred, gt, SIGMAS)['gt_inds']
    assert (many == 0).sum() == 5 and (many == 1).sum() == 5


def test_shared_cell_goes_to_higher_score():
    a = [[10, 10], [30, 10], [10, 50], [30, 50]]
    b = [[14, 10], [34, 10], [14, 50], [34, 50]]
    gt = _gt([[10, 10, 30, 50], [14, 10, 34, 50]], [a, b])
    # the single candidate cell predicts person b exactly
    pred = _pred([[22, 30]], [b])
    res = KeypointDrivenAssigner(topk=1).assign(pred, gt, SIGMAS)
    assert res['gt_inds'].tolist() == [1]


def test_candidates_limited_to_box_or_centre_region():
    gt = _gt([[100, 100, 110, 110]], [[[101, 101], [109, 101], [101, 109], [109, 109]]])
    # cell far away predicts the person perfectly but is not a candidate
    pred = _pred([[300, 300], [104, 104]],
                 [[[101, 101], [109, 101], [101, 109], [109, 109]], [[0, 0]] * 4])
    res = KeypointDrivenAssigner(topk=1).assign(pred, gt, SIGMAS)
    assert res['gt_inds'].tolist() == [-1, 0]
    # tiny person with no cell centre inside its box: the centre region still gives one
    gt_small = _gt([[101, 101, 103, 103]], [[[101, 101], [103, 101], [101, 103], [103, 103]]])
    pred2 = _pred([[108, 108], [300, 300]], [[[102, 102]] * 4] * 2, stride=8.0)
    res2 = KeypointDrivenAssigner(topk=1, center_radius=2.5).assign(pred2, gt_small, SIGMAS)
    assert res2['gt_inds'].tolist() == [0, -1]


def test_unlabelled_person_and_crowd_are_ignored_not_background():
    gt = _gt([[0, 0, 40, 40], [60, 0, 100, 40]],
             [PERSON, [[0, 0]] * 4], vis=[[2, 2, 1, 2], [0, 0, 0, 0]])
    pred = _pred([[20, 20], [80, 20], [200, 200]], [PERSON] * 3)
    res = KeypointDrivenAssigner(topk=3).assign(pred, gt, SIGMAS)
    assert res['gt_inds'].tolist() == [0, -1, -1]
    assert res['ignore_mask'].tolist() == [False, True, False]


def test_no_people():
    pred = _pred([[20, 20]], [PERSON])
    empty = InstanceData(bboxes=torch.zeros(0, 4), keypoints=torch.zeros(0, K, 2),
                         keypoints_visible=torch.zeros(0, K), areas=torch.zeros(0))
    res = KeypointDrivenAssigner().assign(pred, empty, SIGMAS)
    assert res['gt_inds'].tolist() == [-1] and not res['ignore_mask'].any()
