"""Ultralytics side of ``benchmarks/train_speed.py`` (``--worker yolo``, peers venv): one
training step as the Ultralytics trainer takes it, with the assigner timed apart."""
import os
import os.path as osp
import time
from typing import List

import numpy as np

from benchmarks.speed.train_step_common import (INPUT, StageTimer, TrainStepWorker,
                                                device_sync, make_images, make_people, rss_mb)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class YOLOWorker(TrainStepWorker):
    """Ultralytics YOLOv8n-pose / YOLO26n-pose, trained on the synthetic batch."""
    def setup(self, model: str, batch: int, people, threads: int, seed: int,
              device: str = 'cpu', amp: bool = False) -> dict:
        """Build ``model`` from its yaml (1 class) on ``device``, AdamW, the batch in
        Ultralytics' label format and the assigner timer (``amp``: float16 autocast and a
        GradScaler, as the Ultralytics trainer). Returns params, RSS after setup, criterion."""
        import torch
        os.environ.setdefault('YOLO_OFFLINE', '1')
        from ultralytics.cfg import get_cfg
        from ultralytics.utils import DEFAULT_CFG
        from benchmarks.speed.latency_peers import build_peer
        torch.set_num_threads(threads)  # importing ultralytics set it to 1
        torch.manual_seed(seed)
        work = osp.join(ROOT, 'work_dirs', 'bench_train')
        net = build_peer(model, work).model
        net.args = get_cfg(DEFAULT_CFG)  # loss gains (box, pose, kobj, cls, dfl), as the trainer
        net.train()
        for p in net.parameters():
            p.requires_grad_(True)
        self.device, self.sync, self.amp = device, device_sync(device), amp
        net.to(device)   # before init_criterion: the loss takes its device from the model
        self.scaler = torch.amp.GradScaler(device.split(':')[0], enabled=amp)
        self.net = net
        self.optim = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.937, 0.999),
                                       weight_decay=0.05)
        self.batch = {k: v.to(device) for k, v in
                      self.make_batch(make_people(seed, batch, people),
                                      make_images(seed, batch)).items()}
        self.timer = StageTimer(self.sync)
        crit = net.init_criterion()
        net.criterion = crit
        subs = [crit.one2many, crit.one2one] if hasattr(crit, 'one2one') else [crit]
        for c in subs:
            c.assigner.__dict__['forward'] = self.timer.wrap('assign', c.assigner.forward)
        n_params = sum(p.numel() for p in net.parameters())
        self.rss_setup = rss_mb()
        return dict(params=n_params, rss_setup_mb=self.rss_setup, optimizer='AdamW',
                    clip_grad=dict(max_norm=10.0), criterion=type(crit).__name__)

    @staticmethod
    def make_batch(people: List[dict], imgs: np.ndarray) -> dict:
        """Ultralytics' collated pose batch: normalised xywh boxes and keypoints."""
        import torch
        bi, cls, boxes, kpts = [], [], [], []
        for i, p in enumerate(people):
            b = p['bboxes']
            xywh = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0],
                             b[:, 3] - b[:, 1]], 1) / INPUT
            kp = np.concatenate([p['keypoints'] / INPUT, p['visible'][..., None]], -1)
            kp[p['visible'] == 0, :2] = 0
            bi.append(np.full(len(b), i, np.float32))
            cls.append(np.zeros((len(b), 1), np.float32))
            boxes.append(xywh.astype(np.float32))
            kpts.append(kp.astype(np.float32))
        img = torch.from_numpy(imgs[:, ::-1].copy())  # BGR -> RGB uint8, as the dataloader
        return dict(img=img, batch_idx=torch.from_numpy(np.concatenate(bi)),
                    cls=torch.from_numpy(np.concatenate(cls)),
                    bboxes=torch.from_numpy(np.concatenate(boxes)),
                    keypoints=torch.from_numpy(np.concatenate(kpts)))

    def step(self) -> dict:
        """One step as the Ultralytics trainer: forward, ``model.loss``, backward,
        clip_grad_norm_(10), AdamW (stage times in s)."""
        import torch
        net, sync = self.net, self.sync
        sync()
        c0, t0 = time.process_time(), time.perf_counter()
        batch = dict(self.batch)
        batch['img'] = batch['img'].float() / 255  # DetectionTrainer.preprocess_batch
        sync()
        t1 = time.perf_counter()
        with torch.autocast(self.device.split(':')[0], enabled=self.amp):
            preds = net(batch['img'])
            sync()
            t2 = time.perf_counter()
            loss, _ = net.loss(batch, preds)
            loss = loss.sum()
        sync()
        t3 = time.perf_counter()
        self.scaler.scale(loss).backward()
        sync()
        t4 = time.perf_counter()
        self.scaler.unscale_(self.optim)
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=10.0)
        self.scaler.step(self.optim)
        self.scaler.update()
        self.optim.zero_grad()
        sync()
        c5, t5 = time.process_time(), time.perf_counter()
        assign = self.timer.pop().get('assign', 0.0)
        return dict(total=t5 - t0, data=t1 - t0, fwd=t2 - t1, assign=assign,
                    loss=(t3 - t2) - assign, backward=t4 - t3, step=t5 - t4,
                    loss_value=float(loss), cpu=c5 - c0)
