"""Task Alignment Error (paper Eq. 4-5): matching rules, hand-made cases, CLI smoke test."""
import itertools
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from erpose_mm.evaluation import (aggregate_tae, greedy_matching, image_tae, oks_matrix,
                                  optimal_assignment, tae_ap_correlation)
from erpose_mm.evaluation.tae import ImageTAE

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(REPO, 'configs/erpose/erpose-n_synthetic-256.py')
TOOL = osp.join(REPO, 'tools/analysis/task_alignment_error.py')

COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                        .87, .87, .89, .89]) / 10.0
K = len(COCO_SIGMAS)


def ref_oks(gt, vis, area, pred, sigmas=COCO_SIGMAS):
    """Independent COCO OKS of one person (K, 2) and one prediction (K, 2)."""
    d2 = ((np.asarray(gt) - np.asarray(pred)) ** 2).sum(-1)
    e = d2 / (2 * (2 * sigmas) ** 2 * (area + np.spacing(1)))
    m = np.asarray(vis) > 0
    return float(np.exp(-e)[m].mean())


def person(x0, y0, h=100.0, seed=0):
    """A (K, 2) pose inside a box at (x0, y0) of height h."""
    rng = np.random.default_rng(seed)
    return np.stack([x0 + rng.uniform(0, h / 2, K), y0 + rng.uniform(0, h, K)], -1)


AREA = 50.0 * 100.0
VIS = np.full(K, 2.0)


# ----------------------------------------------------------------------------- OKS
def test_oks_matrix_matches_cocoeval():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    rng = np.random.default_rng(0)
    gts = [person(20, 30, seed=1), person(200, 40, h=80, seed=2)]
    vis = [rng.integers(0, 3, K).astype(float) for _ in gts]
    vis[0][:3] = 2
    vis[1][:3] = 2
    areas = [4000.0, 2500.0]
    dts = [g + rng.normal(0, s, g.shape) for g in gts for s in (2.0, 8.0)]
    scores = [0.9, 0.8, 0.7, 0.6]
    anns = [dict(id=i + 1, image_id=1, category_id=1, iscrowd=0, area=a,
                 bbox=[float(g[:, 0].min()), float(g[:, 1].min()), 60.0, 100.0],
                 num_keypoints=int((v > 0).sum()),
                 keypoints=np.concatenate([g, v[:, None]], 1).reshape(-1).tolist())
            for i, (g, v, a) in enumerate(zip(gts, vis, areas))]
    gt = COCO()
    gt.dataset = dict(images=[dict(id=1, width=400, height=300)], annotations=anns,
                      categories=[dict(id=1, name='person')])
    gt.createIndex()
    dt = gt.loadRes([dict(image_id=1, category_id=1, score=s,
                          keypoints=np.concatenate([d, np.ones((K, 1))], 1).reshape(-1).tolist())
                     for d, s in zip(dts, scores)])
    ev = COCOeval(gt, dt, 'keypoints')
    ev._prepare()
    ref = ev.computeOks(1, 1)  # (num dets sorted by score, num gts)
    S = oks_matrix(np.stack(gts), np.stack(vis), np.array(areas), np.stack(dts), COCO_SIGMAS)
    assert S.shape == (2, 4)
    np.testing.assert_allclose(S.T, ref, rtol=1e-6, atol=1e-9)


def test_oks_matrix_empty_and_torch_inputs():
    assert oks_matrix(np.zeros((0, K, 2)), np.zeros((0, K)), np.zeros(0), np.zeros((5, K, 2)),
                      COCO_SIGMAS).shape == (0, 5)
    assert oks_matrix([person(0, 0)], [VIS], [AREA], [], COCO_SIGMAS).shape == (1, 0)
    g = torch.as_tensor(person(0, 0)[None])
    S = oks_matrix(g, torch.ones(1, K), torch.tensor([AREA]), g.clone(),
                   torch.as_tensor(COCO_SIGMAS))
    np.testing.assert_allclose(S, [[1.0]])


# ----------------------------------------------------------------------------- matchings
def test_optimal_assignment_is_injective_and_optimal():
    # both people prefer candidate 0: a per-person argmax would give both of them c0
    S = np.array([[0.90, 0.80, 0.00],
                  [0.85, 0.10, 0.00]])
    idx, oks = optimal_assignment(S)
    assert len(set(idx.tolist())) == 2
    assert idx.tolist() == [1, 0]
    np.testing.assert_allclose(oks, [0.80, 0.85])
    # brute force over all injective maps on random matrices
    rng = np.random.default_rng(1)
    for _ in range(20):
        S = rng.uniform(size=(3, 5))
        best = max(sum(S[i, p[i]] for i in range(3)) for p in itertools.permutations(range(5), 3))
        idx, oks = optimal_assignment(S)
        assert len(set(idx.tolist())) == 3
        assert oks.sum() == pytest.approx(best)


def test_optimal_assignment_more_people_than_candidates():
    S = np.array([[0.2], [0.7], [0.5]])
    idx, oks = optimal_assignment(S)
    assert idx.tolist() == [-1, 0, -1]
    np.testing.assert_allclose(oks, [0, 0.7, 0])
    idx, oks = optimal_assignment(np.zeros((2, 0)))
    assert idx.tolist() == [-1, -1] and oks.tolist() == [0, 0]


def test_greedy_matching_follows_scores_like_cocoeval():
    # outputs 0 and 1 both fit person 0 best; output 1 has the higher score and takes it,
    # output 0 then goes to person 1 (its best free person)
    S = np.array([[0.9, 0.6, 0.0],
                  [0.3, 0.5, 0.0]])
    idx, oks = greedy_matching(S, scores=[0.5, 0.9, 0.95])
    assert idx.tolist() == [1, 0]
    np.testing.assert_allclose(oks, [0.6, 0.3])
    # an output with OKS 0 to everybody matches nobody (output 2 above); a higher min_oks
    idx, oks = greedy_matching(S, scores=[0.5, 0.9, 0.95], min_oks=0.4)
    assert idx.tolist() == [1, -1] and oks.tolist() == [0.6, 0.0]
    # max_dets keeps only the best-scored outputs
    idx, oks = greedy_matching(S, scores=[0.5, 0.9, 0.95], max_dets=2)
    assert idx.tolist() == [1, -1]
    # equal scores: stable order (index order), as COCOeval's mergesort
    idx, _ = greedy_matching(np.array([[0.4, 0.8]]), scores=[0.5, 0.5])
    assert idx.tolist() == [0]
    with pytest.raises(ValueError):
        greedy_matching(S, scores=[0.5])


# ----------------------------------------------------------------------------- TAE cases
def _two_people():
    a, b = person(0, 0, seed=3), person(300, 0, seed=4)
    return np.stack([a, b]), np.stack([VIS, VIS]), np.array([AREA, AREA])


def test_tae_second_best_candidate_selected():
    """2 people, 3 candidates; inference outputs the 2nd-best candidate of person A."""
    gt, vis, areas = _two_people()
    a, b = gt
    c0 = a + 0.5                     # best for A
    c1 = a + 6.0                     # 2nd best for A
    c2 = b + 2.0                     # best for B
    cands = np.stack([c0, c1, c2])
    outs = np.stack([c1, c2])
    r = image_tae(gt, vis, areas, cands, outs, [0.9, 0.8], COCO_SIGMAS)
    o_a0, o_a1 = ref_oks(a, VIS, AREA, c0), ref_oks(a, VIS, AREA, c1)
    o_b2 = ref_oks(b, VIS, AREA, c2)
    assert o_a0 > o_a1 > 0.1
    assert r.optimal_index.tolist() == [0, 2]
    assert r.selected_index.tolist() == [0, 1]
    np.testing.assert_allclose(r.oks_optimal, [o_a0, o_b2], rtol=1e-9)
    np.testing.assert_allclose(r.oks_selected, [o_a1, o_b2], rtol=1e-9)
    assert r.tae_sum == pytest.approx(o_a0 - o_a1)
    assert r.tae_mean == pytest.approx((o_a0 - o_a1) / 2)
    np.testing.assert_allclose(r.per_gt, [o_a0 - o_a1, 0.0], atol=1e-12)


def test_tae_perfect_selection_is_zero():
    gt, vis, areas = _two_people()
    rng = np.random.default_rng(0)
    cands = np.stack([gt[0] + 1.0, gt[1] - 1.0] + [gt[i % 2] + rng.normal(0, 10, (K, 2))
                                                   for i in range(8)])
    # outputs: the two optimal candidates first, then lower-scored junk
    outs = np.concatenate([cands[:2], cands[5:7]])
    r = image_tae(gt, vis, areas, cands, outs, [0.9, 0.8, 0.1, 0.05], COCO_SIGMAS)
    assert r.optimal_index.tolist() == [0, 1]
    assert r.tae_sum == pytest.approx(0.0, abs=1e-12)
    assert r.tae_mean == pytest.approx(0.0, abs=1e-12)


def test_tae_injectivity_two_people_one_good_candidate():
    """Two people close together whose best candidate is the same one: the optimum can
    give it to only one of them."""
    a = person(0, 0, seed=5)
    b = a + np.array([8.0, 0.0])
    gt, vis, areas = np.stack([a, b]), np.stack([VIS, VIS]), np.array([AREA, AREA])
    shared = a + np.array([4.0, 0.0])        # between the two: the best for both
    other = a + np.array([-6.0, 0.0])        # left of A: only decent for A
    far = a + 200.0
    cands = np.stack([shared, other, far])
    S = oks_matrix(gt, vis, areas, cands, COCO_SIGMAS)
    assert S[0].argmax() == S[1].argmax() == 0
    r = image_tae(gt, vis, areas, cands, cands[:1], [0.9], COCO_SIGMAS)
    assert r.optimal_index[0] != r.optimal_index[1]
    best = max(S[0, i] + S[1, j] for i in range(3) for j in range(3) if i != j)
    assert r.oks_optimal.sum() == pytest.approx(best)
    assert r.optimal_index.tolist() == [1, 0]
    # the one output (the shared candidate) goes to A: A does better than in the optimum,
    # B is missed; per person the difference can be negative, the sum cannot
    assert r.selected_index.tolist() == [0, -1]
    assert r.per_gt[0] < 0 < r.tae_sum


def test_tae_missing_output_contributes_its_optimal_oks():
    gt, vis, areas = _two_people()
    cands = np.stack([gt[0] + 1.0, gt[1] + 3.0])
    # only A gets an output (its optimal candidate); nothing is output near B
    r = image_tae(gt, vis, areas, cands, cands[:1], [0.9], COCO_SIGMAS)
    assert r.selected_index.tolist() == [0, -1]
    o_b = ref_oks(gt[1], VIS, AREA, cands[1])
    assert r.tae_sum == pytest.approx(o_b)
    # no outputs at all: TAE = sum of the optimal OKS
    r = image_tae(gt, vis, areas, cands, np.zeros((0, K, 2)), [], COCO_SIGMAS)
    assert r.tae_sum == pytest.approx(r.oks_optimal.sum())
    assert aggregate_tae([r])['missed'] == 1.0


def test_far_confident_output_does_not_steal_a_person():
    """An output for somebody else (here: far away, scored highest) must not take person
    B at a numerically tiny OKS and push B's real output out (the min_oks noise floor);
    min_oks=0 is COCOeval's matching with a zero threshold, where it does."""
    gt, vis, areas = _two_people()
    stray = gt[0] - 250.0                    # nobody's pose, 250 px left of A
    cands = np.stack([stray, gt[0] + 1.0, gt[1] + 1.0])
    outs, scores = cands, [0.99, 0.9, 0.8]
    S = oks_matrix(gt, vis, areas, outs, COCO_SIGMAS)
    assert 0 < S[:, 0].max() < 1e-6
    r = image_tae(gt, vis, areas, cands, outs, scores, COCO_SIGMAS)
    assert r.selected_index.tolist() == [1, 2] and r.tae_sum == pytest.approx(0, abs=1e-12)
    r0 = image_tae(gt, vis, areas, cands, outs, scores, COCO_SIGMAS, min_oks=0.0)
    assert r0.selected_index.tolist() == [0, 1]   # the stray output took A, A's took B
    assert r0.tae_sum > 0.9


def test_tae_ignored_people_are_left_out():
    gt, vis, areas = _two_people()
    gt3 = np.concatenate([gt, gt[:1] + 50])
    vis3 = np.concatenate([vis, np.zeros((1, K))])  # 3rd person: no labelled keypoint
    areas3 = np.concatenate([areas, [AREA]])
    cands = np.stack([gt[0], gt[1]])
    r = image_tae(gt3, vis3, areas3, cands, cands, [0.9, 0.8], COCO_SIGMAS)
    assert r.num_gt == 2 and r.gt_index.tolist() == [0, 1]
    r = image_tae(gt3, vis3, areas3, cands, cands, [0.9, 0.8], COCO_SIGMAS,
                  gt_ignore=[True, False, False])   # e.g. iscrowd
    assert r.num_gt == 1 and r.gt_index.tolist() == [1]
    assert r.tae_sum == pytest.approx(0.0, abs=1e-12)
    r = image_tae(gt3[2:], vis3[2:], areas3[2:], cands, cands, [0.9, 0.8], COCO_SIGMAS)
    assert r.num_gt == 0 and np.isnan(r.tae_mean) and r.tae_sum == 0.0


def test_tae_sum_nonnegative_when_outputs_are_candidates():
    """Random cases: with outputs taken among the candidates the Eq. 5 sum is >= 0."""
    rng = np.random.default_rng(7)
    for trial in range(30):
        G = int(rng.integers(1, 5))
        gt = np.stack([person(rng.uniform(0, 80), rng.uniform(0, 80), seed=trial * 10 + g)
                       for g in range(G)])
        vis = np.full((G, K), 2.0)
        areas = np.full(G, AREA)
        cands = gt[rng.integers(0, G, 12)] + rng.normal(0, 6, (12, K, 2))
        pick = rng.choice(12, size=int(rng.integers(0, 8)), replace=False)
        r = image_tae(gt, vis, areas, cands, cands[pick], rng.uniform(size=len(pick)),
                      COCO_SIGMAS, max_dets=None)
        assert r.tae_sum >= -1e-12
        # each person's OKS is the one with the candidate / output it was given (0: none),
        # the optimal one at most that of the person's best candidate
        full = oks_matrix(gt, vis, areas, cands, COCO_SIGMAS)
        out = full[:, pick]
        for i in range(G):
            j, o = r.optimal_index[i], r.selected_index[i]
            assert r.oks_optimal[i] == pytest.approx(full[i, j] if j >= 0 else 0.0)
            assert r.oks_selected[i] == pytest.approx(out[i, o] if o >= 0 else 0.0)
            assert r.oks_optimal[i] <= full[i].max() + 1e-12


def test_aggregate_normalisation():
    def img(opt, sel):
        opt, sel = np.asarray(opt, float), np.asarray(sel, float)
        return ImageTAE(opt, sel, np.arange(len(opt)), np.where(sel > 0, 0, -1))
    res = [img([0.9], [0.7]),                        # TAE 0.2, mean 0.2
           img([0.8, 0.6, 0.5], [0.8, 0.3, 0.0]),    # TAE 0.8, mean 0.8/3
           img([], [])]                              # no people: skipped
    s = aggregate_tae(res)
    assert s['num_images'] == 2 and s['num_gt'] == 4
    assert s['tae'] == pytest.approx((0.2 + 0.8 / 3) / 2)
    assert s['tae_sum'] == pytest.approx((0.2 + 0.8) / 2)
    assert s['tae_total'] == pytest.approx(1.0)
    assert s['tae_pooled'] == pytest.approx(0.25)
    assert s['oks_optimal'] == pytest.approx(0.7)
    assert s['missed'] == pytest.approx(0.25)
    assert aggregate_tae([])['num_images'] == 0


def test_tae_ap_correlation():
    rho, p = tae_ap_correlation([0.02, 0.05, 0.08, 0.1], [0.60, 0.55, 0.50, 0.40])
    assert rho == pytest.approx(-1.0)
    rho, _ = tae_ap_correlation([0.02, 0.05, 0.08], [0.5, 0.6, 0.4])
    assert rho == pytest.approx(-0.5)
    assert np.isnan(tae_ap_correlation([0.1, 0.2], [0.0, 0.0])[0])
    assert np.isnan(tae_ap_correlation([0.1], [0.3])[0])
    with pytest.raises(ValueError):
        tae_ap_correlation([0.1, 0.2], [0.3])


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    from erpose_mm.datasets import generate_synthetic_coco
    from mmengine.registry import init_default_scope
    from mmpose.apis import init_model
    init_default_scope('mmpose')
    root = tmp_path_factory.mktemp('tae_syn')
    generate_synthetic_coco(str(root), num_train=4, num_val=3, min_size=160, max_size=224,
                            difficulty='easy', progress=False)
    ckpts = []
    cfg14 = osp.join(REPO, 'configs/erpose/erpose-n_crowdpose-640.py')
    for name, cfg, seed in (('rand0', CFG, 0), ('rand1', CFG, 1), ('kpt14', cfg14, 0)):
        torch.manual_seed(seed)
        model = init_model(cfg, None, device='cpu')
        path = str(root / f'{name}.pth')
        torch.save({'state_dict': model.state_dict(),
                    'meta': {'dataset_meta': model.dataset_meta}}, path)
        ckpts.append(path)
    return str(root) + '/', ckpts


def _opts(root):
    ann = f'{root}annotations/person_keypoints_val.json'
    return ['--cfg-options', f'data_root={root}', f'test_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}', f'test_evaluator.ann_file={ann}',
            f'val_evaluator.ann_file={ann}', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False',
            # random weights score below the default 0.01: keep every top-k output
            'model.test_cfg.score_thr=0.0']


@pytest.mark.slow
def test_cli_smoke_two_checkpoints(tiny, tmp_path):
    root, (c0, c1, _) = tiny
    plot, out = str(tmp_path / 'tae_ap.png'), str(tmp_path / 'tae.json')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    p = subprocess.run([sys.executable, TOOL, CFG, c0, c1, '--max-images', '2', '--device',
                        'cpu', '--plot', plot, '--out', out, *_opts(root)], cwd=REPO,
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    assert 'TAE/N' in p.stdout and 'rand0.pth' in p.stdout and 'rand1.pth' in p.stdout
    assert 'Spearman' in p.stdout
    assert osp.getsize(plot) > 0
    res = json.load(open(out))
    assert len(res['checkpoints']) == 2
    for r in res['checkpoints']:
        assert r['num_images'] == 2 and r['num_gt'] >= 2
        assert 0.0 <= r['oks_selected'] <= r['oks_optimal'] + 1e-9 <= 1.0 + 1e-9
        assert r['tae_pooled'] == pytest.approx(r['oks_optimal'] - r['oks_selected'])
        # the outputs are a subset of the candidates: every image's Eq. 5 sum is >= 0
        assert r['tae'] >= -1e-6 and r['tae_total'] >= -1e-6
        assert r['ap_key'] == 'coco/AP' and 0.0 <= r['ap'] <= 1.0


@pytest.mark.slow
def test_cli_given_ap_and_correlation(tiny, tmp_path, capsys):
    from tools.analysis import task_alignment_error as tool
    root, (c0, c1, _) = tiny
    out = tool.main([CFG, c0, c1, c0, '--ap', '0.5', '0.4', '0.45', '--labels', 'a', 'b', 'c',
                     '--max-images', '1', '--max-dets', '0', '--device', 'cpu', *_opts(root)])
    text = capsys.readouterr().out
    assert [r['ap'] for r in out['checkpoints']] == [0.5, 0.4, 0.45]
    assert [r['label'] for r in out['checkpoints']] == ['a', 'b', 'c']
    # same weights -> same TAE (the evaluation is deterministic)
    assert out['checkpoints'][0]['tae'] == pytest.approx(out['checkpoints'][2]['tae'])
    assert 'Spearman' in text and out['max_dets'] == 0


@pytest.mark.slow
def test_cli_rejects_checkpoint_with_other_keypoint_count(tiny):
    from tools.analysis import task_alignment_error as tool
    root, (_, _, c14) = tiny
    with pytest.raises(ValueError, match='does not fit'):
        tool.main([CFG, c14, '--max-images', '1', '--ap', '0.1', '--device', 'cpu', *_opts(root)])
