"""What both training-step workers of ``benchmarks/train_speed.py`` share: the synthetic
people / images every model trains on, stage timers, RSS, and the worker's ``run`` /
``stats`` commands. No project imports (the YOLO worker runs in the peers venv)."""
import resource
import time
from typing import Dict, List

import numpy as np

from benchmarks.common.machine import timed_steps

INPUT = 640
K = 17
STAGES_ER = ('data', 'backbone_neck_fwd', 'head_fwd', 'assign', 'loss', 'backward', 'step')
STAGES_YOLO = ('data', 'fwd', 'assign', 'loss', 'backward', 'step')


def rss_mb() -> float:
    """Current resident set size of this process (MB)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ----------------------------------------------------------------------------- synthetic people
def make_people(seed: int, batch: int, people, size: int = INPUT) -> List[dict]:
    """Per image: ``bboxes`` (G, 4) xyxy px, ``keypoints`` (G, K, 2) px, ``visible`` (G, K)
    in {0, 2} (~80 % labelled), ``areas`` (G,). ``people``: an int or one int per image.
    Library-free, so every model sees the same people."""
    rng = np.random.default_rng(seed)
    if isinstance(people, int):
        people = [people] * batch
    out = []
    for g in people:
        w = rng.uniform(40, 220, g)
        h = w * rng.uniform(1.5, 2.6, g)
        h = np.minimum(h, size * 0.9)
        x1 = rng.uniform(0, size - w)
        y1 = rng.uniform(0, size - h)
        boxes = np.stack([x1, y1, x1 + w, y1 + h], 1).astype(np.float32)
        # keypoints: a rough standing skeleton template inside the box, jittered
        tmpl = np.array([[.5, .08], [.45, .06], [.55, .06], [.4, .08], [.6, .08],
                         [.3, .25], [.7, .25], [.22, .42], [.78, .42], [.2, .57], [.8, .57],
                         [.38, .58], [.62, .58], [.37, .78], [.63, .78], [.36, .97],
                         [.64, .97]], np.float32)
        kp = tmpl[None] + rng.normal(0, 0.03, (g, K, 2)).astype(np.float32)
        kp = np.clip(kp, 0, 1) * np.stack([w, h], 1)[:, None] + boxes[:, None, :2]
        vis = np.where(rng.uniform(size=(g, K)) < 0.8, 2.0, 0.0).astype(np.float32)
        vis[:, 0] = 2.0  # at least one labelled keypoint per person
        out.append(dict(bboxes=boxes, keypoints=kp.astype(np.float32), visible=vis,
                        areas=(w * h * 0.53).astype(np.float32)))
    return out


def make_images(seed: int, batch: int, size: int = INPUT) -> np.ndarray:
    """(B, 3, H, W) uint8 BGR noise (content does not change the cost)."""
    return np.random.default_rng(seed + 1).integers(0, 256, (batch, 3, size, size), np.uint8)


# ----------------------------------------------------------------------------- timing helper
def device_sync(device: str):
    """A function that waits for ``device``'s queued work (a no-op on the CPU): stage times
    on a GPU are taken between synchronisations, not at kernel launch."""
    if device.startswith('cuda'):
        import torch
        return torch.cuda.synchronize
    return lambda: None


class StageTimer:
    """Accumulates wall time of wrapped callables for one iteration (``sync``: called
    before each clock reading, see :func:`device_sync`)."""

    def __init__(self, sync=None):
        self.acc: Dict[str, float] = {}
        self.sync = sync or (lambda: None)

    def wrap(self, key: str, fn):
        """``fn`` whose wall time is added to ``key``."""
        def timed(*a, **k):
            self.sync()
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.sync()
                self.acc[key] = self.acc.get(key, 0.0) + time.perf_counter() - t0
        timed.__wrapped__ = fn
        return timed

    def pop(self) -> Dict[str, float]:
        """The accumulated times since the last ``pop``; starts over."""
        acc, self.acc = self.acc, {}
        return acc


class TrainStepWorker:
    """Commands every training-step worker answers besides ``setup`` / ``step``."""

    def step(self) -> dict:
        """One timed training step: ``dict(total=, <stage>=..., loss_value=, cpu=)`` (s)."""
        raise NotImplementedError

    def run(self, n: int) -> List[dict]:
        """``n`` training steps, each ``step()``'s stage times plus the load average."""
        return timed_steps(self.step, n)

    def stats(self) -> dict:
        """Peak RSS of this worker process, RSS after setup and now (MB); on a GPU also
        the peak of torch's allocated GPU memory (MB)."""
        out = dict(peak_rss_mb=peak_rss_mb(), rss_setup_mb=self.rss_setup, rss_now_mb=rss_mb())
        if getattr(self, 'device', 'cpu').startswith('cuda'):
            import torch
            out['gpu_peak_mb'] = torch.cuda.max_memory_allocated() / 2**20
        return out
