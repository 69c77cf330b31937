"""ER-Pose side of ``benchmarks/train_speed.py`` (``--worker erpose``): one
``BaseModel.train_step`` with stage timers, the assigner / head-loss sweep, and the
torch.profiler breakdown."""
import os.path as osp
import time
from typing import List

import numpy as np

from benchmarks.common.machine import log
from benchmarks.common.stats import med
from benchmarks.speed.train_step_common import (INPUT, K, StageTimer, TrainStepWorker,
                                                device_sync, make_images, make_people, rss_mb)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class ERPoseWorker(TrainStepWorker):
    """ER-Pose-n / -s built from the project config, trained on the synthetic batch."""
    def setup(self, model: str, batch: int, people, threads: int, seed: int,
              device: str = 'cpu', amp: bool = False) -> dict:
        """Build ``model`` (``erpose-n`` / ``erpose-s``) on ``device``, its optimizer
        wrapper (``amp``: MMEngine's AmpOptimWrapper, float16, as ``tools/train.py --amp``),
        the batch and the stage timers. Returns params, RSS after setup, optimizer, clip_grad."""
        import torch
        import erpose_mm  # noqa: F401
        from mmengine.config import Config
        from mmengine.logging import MMLogger
        from mmengine.optim import build_optim_wrapper
        from mmpose.registry import MODELS
        from mmpose.utils import register_all_modules
        import logging
        register_all_modules(init_default_scope=True)
        for inst in list(MMLogger._instance_dict.values()):
            inst.setLevel(logging.WARNING)
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        scale = model.split('-')[1]
        self.cfg = Config.fromfile(osp.join(ROOT, 'configs', 'erpose', f'erpose-{scale}_coco-640.py'))
        self.model = MODELS.build(self.cfg.model)
        self.model.init_weights()
        self.model.train()
        self.device, self.sync = device, device_sync(device)
        self.model.to(device)   # BaseModel.to moves the data preprocessor's device too
        optim_cfg = self.cfg.optim_wrapper.copy()
        if amp:
            optim_cfg.update(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
        self.optim = build_optim_wrapper(self.model, optim_cfg)
        self.batch = batch
        self.data = self.make_data(make_people(seed, batch, people), make_images(seed, batch))
        self.timer = StageTimer(self.sync)
        head = self.model.head
        # stage timers: branch forwards and the assigners (instance attributes shadow the
        # class methods; nn.Module.__call__ calls self.forward)
        for br, key in ((head.one2one, 'head_fwd'), (head.one2many, 'head_fwd')):
            if br is not None:
                br.__dict__['forward'] = self.timer.wrap(key, br.forward)
        for a in (head.assigner_one2one, head.assigner_one2many):
            if a is not None:
                a.assign_batch = self.timer.wrap('assign', a.assign_batch)
        n_params = sum(p.numel() for p in self.model.parameters())
        self.rss_setup = rss_mb()
        return dict(params=n_params, rss_setup_mb=self.rss_setup,
                    optimizer=f'{type(self.optim.optimizer).__name__} '
                              f'({type(self.optim).__name__})',
                    clip_grad=self.cfg.optim_wrapper.get('clip_grad'))

    def make_data(self, people: List[dict], imgs: np.ndarray) -> dict:
        """MMPose batch (``inputs``: B x (3, H, W) uint8, ``data_samples``) of the
        synthetic people."""
        import torch
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample
        samples = []
        for p in people:
            ds = PoseDataSample(metainfo=dict(input_size=(INPUT, INPUT), img_shape=(INPUT, INPUT),
                                              ori_shape=(INPUT, INPUT), flip_indices=list(range(K))))
            labels = InstanceData()
            labels.keypoints = torch.from_numpy(p['keypoints'])
            labels.keypoints_visible = torch.from_numpy((p['visible'] > 0).astype(np.float32))
            labels.bboxes = torch.from_numpy(p['bboxes'])
            labels.areas = torch.from_numpy(p['areas'])
            ds.gt_instance_labels = labels
            inst = InstanceData()
            inst.bboxes = p['bboxes']
            inst.keypoints = p['keypoints']
            inst.keypoints_visible = (p['visible'] > 0).astype(np.float32)
            ds.gt_instances = inst
            samples.append(ds)
        return dict(inputs=[torch.from_numpy(im) for im in imgs], data_samples=samples)

    def step(self) -> dict:
        """One ``BaseModel.train_step`` (data_preprocessor -> loss -> parse -> backward ->
        clip + AdamW step -> zero_grad), with stage timers."""
        m, ow, sync = self.model, self.optim, self.sync
        sync()
        c0, t0 = time.process_time(), time.perf_counter()
        with ow.optim_context(m):
            data = m.data_preprocessor(self.data, True)
            sync()
            t1 = time.perf_counter()
            feats = m.extract_feat(data['inputs'])
            sync()
            t2 = time.perf_counter()
            losses = m.head.loss(feats, data['data_samples'], train_cfg=m.train_cfg)
            sync()
            t3 = time.perf_counter()
            loss, _ = m.parse_losses(losses)
        ow.backward(loss)
        sync()
        t4 = time.perf_counter()
        ow.step()
        ow.zero_grad()
        sync()
        c5, t5 = time.process_time(), time.perf_counter()
        acc = self.timer.pop()
        head_fwd, assign = acc.get('head_fwd', 0.0), acc.get('assign', 0.0)
        return dict(total=t5 - t0, data=t1 - t0, backbone_neck_fwd=t2 - t1, head_fwd=head_fwd,
                    assign=assign, loss=(t3 - t2) - head_fwd - assign, backward=t4 - t3,
                    step=t5 - t4, loss_value=float(loss), cpu=c5 - c0)

    # ---- assigner / head-loss scaling
    def assign_sweep(self, counts, iters: int, seed: int) -> dict:
        """Per image: ``KeypointDrivenAssigner.assign`` (MAH top-10 and SAH top-1) on the
        model's own decoded predictions; per batch: the full head loss forward and
        forward + backward, for G people in every image."""
        import torch

        from erpose_mm.models.heads import total_loss
        m = self.model
        head = m.head
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # thread CPU time = the whole cost, robust to machine load
        res = dict(counts=list(counts), assign_o2m=[], assign_o2o=[], head_loss_fwd=[],
                   head_loss_fwd_bwd=[])
        a_o2m, a_o2o = head.assigner_one2many, head.assigner_one2one
        data = m.data_preprocessor(self.data, True)
        with torch.no_grad():
            feats = [f.detach() for f in m.extract_feat(data['inputs'])]
            outs = head.dense_outputs(feats, 'one2many')
        for g in [counts[0]] + list(counts):  # the first pass is a warm-up
            warm = len(res['assign_o2m']) == 0 and 'warm' not in res
            if warm:
                res['warm'] = True
            d = self.make_data(make_people(seed + g, self.batch, g), make_images(seed, 1))
            gts = head.batch_targets(d['data_samples'], 'cpu')
            for key, assigner in (('assign_o2m', a_o2m), ('assign_o2o', a_o2o)):
                ts = []
                for i in range(iters + 2):
                    t0 = time.thread_time()
                    head.assign(outs, gts, assigner)  # the whole batch at once
                    if i >= 2:
                        ts.append((time.thread_time() - t0) / self.batch)
                res[key].append(med(ts))
            samples = d['data_samples']
            tf, tfb = [], []
            for i in range(max(3, iters) + 1):
                fe = [f.clone().requires_grad_(True) for f in feats]
                t0 = time.thread_time()
                losses = head.loss(fe, samples)
                t1 = time.thread_time()
                total = total_loss(losses)
                total.backward()
                t2 = time.thread_time()
                self.timer.pop()
                if i >= 1:
                    tf.append(t1 - t0)
                    tfb.append(t2 - t0)
            res['head_loss_fwd'].append(med(tf))
            res['head_loss_fwd_bwd'].append(med(tfb))
            if warm:
                for k in ('assign_o2m', 'assign_o2o', 'head_loss_fwd', 'head_loss_fwd_bwd'):
                    res[k].pop()
                continue
            log(f'[assign sweep] G={g}: o2m {1000 * res["assign_o2m"][-1]:.2f} ms/img, '
                f'head loss fwd+bwd {1000 * res["head_loss_fwd_bwd"][-1]:.0f} ms/batch')
        res.pop('warm', None)
        torch.set_num_threads(threads)
        return res

    # ---- profiling
    def profile(self, iters: int) -> dict:
        """torch.profiler over ``iters`` training steps (labelled stages) and a separate
        measurement of the backbone+neck backward alone (so head+loss backward =
        total backward - backbone/neck backward)."""
        import torch
        from torch.profiler import ProfilerActivity, profile, record_function
        m, ow = self.model, self.optim
        self.step()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
            for _ in range(iters):
                with record_function('1_data_preprocessor'):
                    data = m.data_preprocessor(self.data, True)
                with record_function('2_backbone_neck_fwd'):
                    feats = m.extract_feat(data['inputs'])
                with record_function('3_head_loss_fwd'):
                    losses = m.head.loss(feats, data['data_samples'], train_cfg=m.train_cfg)
                    loss, _ = m.parse_losses(losses)
                with record_function('4_backward'):
                    ow.backward(loss)
                with record_function('5_optimizer_step'):
                    ow.step()
                    ow.zero_grad()
        self.timer.pop()
        ka = prof.key_averages()
        stages = {e.key: e.cpu_time_total / 1000 / iters for e in ka if e.key[:2] in
                  ('1_', '2_', '3_', '4_', '5_')}
        top = sorted(ka, key=lambda e: -e.self_cpu_time_total)[:15]
        top_ops = [dict(op=e.key, self_ms=e.self_cpu_time_total / 1000 / iters, calls=e.count // iters)
                   for e in top]
        # backbone + neck backward alone
        bn_bwd, full_bwd = [], []
        for i in range(iters + 1):
            data = m.data_preprocessor(self.data, True)
            feats = m.extract_feat(data['inputs'])
            gs = [torch.randn_like(f) for f in feats]
            t0 = time.perf_counter()
            torch.autograd.backward(list(feats), gs)
            t1 = time.perf_counter()
            ow.zero_grad()
            if i >= 1:
                bn_bwd.append(t1 - t0)
            r = self.step()
            if i >= 1:
                full_bwd.append(r['backward'])
        self.timer.pop()
        return dict(stages_ms=stages, top_ops=top_ops,
                    backbone_neck_bwd_ms=1000 * med(bn_bwd), total_bwd_ms=1000 * med(full_bwd))
