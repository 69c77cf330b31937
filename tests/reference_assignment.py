"""Per-image reference implementations of the assignment and the head's branch loss.

The batched code in ``KeypointDrivenAssigner.assign_batch`` / ``ERPoseHead._branch_loss`` is
checked against these: plain loops over images and people, written for clarity, with the
one-to-one matching as the sequential greedy (all pairs sorted by score, matched while both
sides are free) rather than the batched mutual-best rounds.
"""
import torch

from erpose_mm.models.task_modules import pairwise_bbox_iou, pairwise_oks


def reference_assign(assigner, priors, strides, scores, keypoints, gt_kpts, gt_vis, gt_boxes,
                     gt_areas, sigmas, pred_boxes=None):
    """One image. Shapes: priors (N, 2), strides (N,), scores (N,), keypoints (N, K, 2),
    gt_* (G, ...), pred_boxes (N, 4). Returns gt_inds, align, quality, ignore_mask, widened."""
    N = priors.shape[0]
    G = gt_kpts.shape[0]
    gt_inds = torch.full((N,), -1, dtype=torch.long)
    align = torch.zeros(N)
    quality = torch.zeros(N)
    ignore = torch.zeros(N, dtype=torch.bool)
    if G == 0:
        return gt_inds, align, quality, ignore, 0
    labelled = (gt_vis > 0).any(1)
    px, py = priors[:, 0], priors[:, 1]
    cand = torch.zeros(G, N, dtype=torch.bool)
    for g in range(G):
        x1, y1, x2, y2 = gt_boxes[g].tolist()
        in_box = (px > x1) & (px < x2) & (py > y1) & (py < y2)
        if not labelled[g]:
            ignore |= in_box
            continue
        if assigner.candidate_rule == 'all':
            cand[g] = True
        else:
            r = assigner.center_radius * strides
            in_c = ((px - (x1 + x2) / 2).abs() < r) & ((py - (y1 + y2) / 2).abs() < r)
            cand[g] = in_box | in_c
    if assigner.metric == 'oks':
        q = pairwise_oks(keypoints, gt_kpts, gt_vis, gt_areas, sigmas)
    else:
        q = pairwise_bbox_iou(gt_boxes, pred_boxes)
    score = scores.clamp(min=0)[None].pow(assigner.alpha) * q.clamp(min=0).pow(assigner.beta)
    widened = 0
    if assigner.injective:
        pairs = []
        for g in range(G):
            if not labelled[g]:
                continue
            for n in range(N):
                key = score[g, n].item() - (0.0 if cand[g, n] else 2.0)
                pairs.append((-key, g, n))
        pairs.sort()
        person_done, cell_done = set(), set()
        for _, g, n in pairs:
            if g in person_done or n in cell_done:
                continue
            person_done.add(g)
            cell_done.add(n)
            gt_inds[n] = g
            align[n] = score[g, n]
            quality[n] = q[g, n]
            widened += int(not cand[g, n])
    else:
        claim = torch.full((G, N), -2.0)
        for g in range(G):
            s = torch.where(cand[g], score[g], torch.tensor(-1.0))
            top_s, top_i = s.topk(min(assigner.topk, N))
            for v, i in zip(top_s.tolist(), top_i.tolist()):
                if v >= 0:
                    claim[g, i] = score[g, i]
        best, best_g = claim.max(0)
        pos = best > -2
        gt_inds[pos] = best_g[pos]
        align[pos] = best[pos].clamp(min=0)
        quality[pos] = q[best_g[pos], pos.nonzero()[:, 0]]
    ignore &= gt_inds < 0
    return gt_inds, align, quality, ignore, widened


def reference_branch_loss(head, outs, samples_gt, assigner):
    """The head's branch loss, image by image (the per-image form of ``_branch_loss``).

    ``outs``: ``head.decode(...)`` output; ``samples_gt``: list of per-image dicts with
    keypoints (G, K, 2), keypoints_visible (G, K), bboxes (G, 4), areas (G,)."""
    conf_logits, keypoints, vis_logits = outs['conf_logits'], outs['keypoints'], outs['vis_logits']
    B, N = conf_logits.shape
    conf_target = torch.zeros(B, N)
    conf_weight = torch.ones(B, N)
    pp, pv, pg, pgv, pa, pb, pgb = [], [], [], [], [], [], []
    scores = conf_logits.detach().sigmoid()
    widened = 0
    for b, gt in enumerate(samples_gt):
        gi, al, qu, ig, w = reference_assign(
            assigner, outs['priors'], outs['strides'], scores[b], keypoints[b].detach(),
            gt['keypoints'], gt['keypoints_visible'], gt['bboxes'], gt['areas'], head.sigmas,
            outs['bboxes'][b].detach() if 'bboxes' in outs else None)
        widened += w
        pos = gi >= 0
        inds = gi[pos]
        conf_weight[b, ig] = 0
        if head.conf_target == 'hard':
            conf_target[b, pos] = 1.0
        else:
            G = gt['keypoints'].shape[0]
            a, q = al[pos], qu[pos]
            ma = a.new_zeros(G).scatter_reduce(0, inds, a, 'amax')
            mq = q.new_zeros(G).scatter_reduce(0, inds, q, 'amax')
            conf_target[b, pos] = a / ma[inds].clamp(min=1e-9) * mq[inds]
        pp.append(keypoints[b, pos])
        pv.append(vis_logits[b, pos])
        pg.append(gt['keypoints'][inds])
        pgv.append(gt['keypoints_visible'][inds])
        pa.append(gt['areas'][inds])
        if 'bboxes' in outs:
            pb.append(outs['bboxes'][b, pos])
            pgb.append(gt['bboxes'][inds])
    pp, pgv = torch.cat(pp), torch.cat(pgv)
    losses = dict(loss_pose=head.loss_pose(pp, torch.cat(pg), pgv, torch.cat(pa)))
    vis_t = (pgv > 0).float()
    losses['loss_vis'] = head.loss_vis(torch.cat(pv), vis_t, torch.ones_like(vis_t)) / max(vis_t.numel(), 1)
    losses['loss_conf'] = head.loss_conf(conf_logits, conf_target, conf_weight) / conf_target.sum().clamp(min=1)
    if 'bboxes' in outs:
        losses['loss_bbox'] = head.loss_bbox(torch.cat(pb), torch.cat(pgb)) / max(pp.shape[0], 1)
    losses['num_pos'] = torch.tensor(float(pp.shape[0]) / B)
    losses['num_widened'] = torch.tensor(float(widened))
    return losses
