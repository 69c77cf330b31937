"""Person IDs across video frames from keypoints alone (ByteTrack scheme, OKS similarity).

Pure numpy + scipy, no torch: used by the inference loop of both ``tools/onnx_infer.py``
and ``tools/infer.py`` (:mod:`erpose_mm.runtime.inference_loop`).

Per frame (:meth:`PoseTracker.update`):

1. **Prediction.** Every track moves its keypoints by a constant velocity (one 2-D
   velocity per person: the median displacement of its keypoints between its last two
   matches, smoothed), times the frames since it was last matched. A person who is
   hidden for a few frames is looked for where they are walking to, not where they
   disappeared -- at a crossing that is what keeps two people's IDs apart.
2. **First association (high scores).** Detections with score >= ``high_thr`` against
   all tracks (matched last frame or lost for up to ``max_age`` frames): similarity is
   the OKS between predicted and detected keypoints, Hungarian assignment, a match needs
   OKS >= ``match_thr``. The OKS scale grows with the frames a track has been lost
   (``lost_scale_growth``): its prediction is less certain.
3. **Second association (low scores).** Detections with ``low_thr`` <= score < ``high_thr``
   (half-occluded people, whom a detector scores low) against the tracks that were
   matched in the previous frame and are still unmatched, with ``low_match_thr``. Low
   detections never start a track.
4. **Birth and death.** An unmatched high detection with score >= ``new_track_thr``
   starts a tentative track; it gets an ID when it is matched again in the next frame
   (``min_hits`` = 2; in the first frame at once), so a one-frame false detection takes
   no ID. A tentative track that misses a frame is dropped; a confirmed track that is
   unmatched for more than ``max_age`` frames is removed.

IDs are 0, 1, 2, ... in the order people are confirmed; detections that belong to no
confirmed track get -1.
"""
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from . import constants


def default_sigmas(num_keypoints: int) -> np.ndarray:
    """(K,) float64 OKS sigmas by :func:`erpose_mm.runtime.constants.default_sigmas`:
    COCO's for 17 keypoints, 0.07 for every keypoint otherwise."""
    return np.asarray(constants.default_sigmas(num_keypoints), np.float64)


def keypoint_area(kpts: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Area of the box around the visible keypoints: (N, K, 2), (N, K) -> (N,)."""
    out = np.zeros(len(kpts))
    for i, (k, v) in enumerate(zip(kpts, vis)):
        if v.sum() >= 2:
            wh = k[v].max(0) - k[v].min(0)
            out[i] = float(wh[0] * wh[1])
    return out


def visible_oks_matrix(kpts_a: np.ndarray, vis_a: np.ndarray, kpts_b: np.ndarray,
                       vis_b: np.ndarray, areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """COCO OKS between every pose of A and every pose of B over keypoints visible in both.

    Args:
        kpts_a: (N, K, 2); vis_a: (N, K) bool; kpts_b: (M, K, 2); vis_b: (M, K) bool.
        areas: (N, M) the scale s^2 of each pair.
        sigmas: (K,).

    Returns:
        (N, M) OKS in [0, 1]; 0 where no keypoint is visible in both poses.
    """
    if len(kpts_a) == 0 or len(kpts_b) == 0:
        return np.zeros((len(kpts_a), len(kpts_b)))
    d2 = ((kpts_a[:, None] - kpts_b[None]) ** 2).sum(-1)                  # (N, M, K)
    k2 = (2 * sigmas) ** 2
    e = d2 / (2 * k2[None, None] * (areas[..., None] + 1e-9))
    both = vis_a[:, None] & vis_b[None]                                    # (N, M, K)
    n = both.sum(-1)
    return np.where(n > 0, (np.exp(-e) * both).sum(-1) / np.maximum(n, 1), 0.0)


@dataclass
class _Track:
    kpts: np.ndarray            # (K, 2) position at the last match
    vis: np.ndarray             # (K,) keypoints seen so far
    last_frame: int
    track_id: int = -1          # -1 while tentative
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1

    def predict(self, frame: int) -> np.ndarray:
        """(K, 2) keypoints extrapolated to ``frame`` at constant velocity."""
        return self.kpts + self.velocity * (frame - self.last_frame)


class PoseTracker:
    """ByteTrack-style multi-person tracker on keypoints (see the module docstring).

    Args:
        high_thr: person score of the first association (and, by default, of birth).
        low_thr: lowest person score a detection may have to extend a track.
        match_thr: OKS a high-score match needs.
        low_match_thr: OKS a low-score match needs (stricter: low scores are less sure).
        new_track_thr: score a detection needs to start a track (default ``high_thr``).
        max_age: frames a lost track is kept (and predicted) before it is removed.
        min_hits: matches before a track gets an ID (1: at once).
        kpt_thr: keypoint score above which a keypoint counts as visible.
        velocity_momentum: weight of the previous velocity in its running average.
        lost_scale_growth: the OKS area of a track lost for g frames is multiplied by
            ``(1 + lost_scale_growth * (g - 1)) ** 2``.
        use_velocity: False predicts no motion (for comparison).
        sigmas: (K,) OKS sigmas (default :func:`default_sigmas`).
    """

    def __init__(self, high_thr: float = 0.5, low_thr: float = 0.1, match_thr: float = 0.3,
                 low_match_thr: float = 0.5, new_track_thr: Optional[float] = None,
                 max_age: int = 30, min_hits: int = 2, kpt_thr: float = 0.3,
                 velocity_momentum: float = 0.5, lost_scale_growth: float = 0.1,
                 use_velocity: bool = True, sigmas: Optional[np.ndarray] = None) -> None:
        if not 0 <= low_thr <= high_thr:
            raise ValueError(f'PoseTracker: need 0 <= low_thr ({low_thr}) <= high_thr '
                             f'({high_thr})')
        self.high_thr, self.low_thr = float(high_thr), float(low_thr)
        self.match_thr, self.low_match_thr = float(match_thr), float(low_match_thr)
        self.new_track_thr = float(high_thr if new_track_thr is None else new_track_thr)
        self.max_age, self.min_hits = int(max_age), max(1, int(min_hits))
        self.kpt_thr = float(kpt_thr)
        self.velocity_momentum = float(velocity_momentum)
        self.lost_scale_growth = float(lost_scale_growth)
        self.use_velocity = bool(use_velocity)
        self.sigmas = None if sigmas is None else np.asarray(sigmas, np.float64)
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; IDs start again at 0."""
        self.tracks: List[_Track] = []
        self.frame = -1
        self.next_id = 0

    # ------------------------------------------------------------------ association
    def _similarity(self, tracks: List[_Track], kpts: np.ndarray,
                    vis: np.ndarray) -> np.ndarray:
        """(T, D) OKS between the tracks' predicted keypoints and detections."""
        if not tracks or len(kpts) == 0:
            return np.zeros((len(tracks), len(kpts)))
        pred = np.stack([t.predict(self.frame) for t in tracks])
        tvis = np.stack([t.vis for t in tracks])
        gap = np.array([self.frame - t.last_frame for t in tracks], np.float64)
        growth = (1 + self.lost_scale_growth * np.maximum(gap - 1, 0)) ** 2
        t_area = keypoint_area(pred, tvis) * growth
        d_area = keypoint_area(kpts, vis)
        areas = 0.5 * (t_area[:, None] + d_area[None])
        return visible_oks_matrix(pred, tvis, kpts, vis, areas, self.sigmas)

    @staticmethod
    def _assign(sim: np.ndarray, thr: float):
        """Hungarian on 1 - OKS; pairs below ``thr`` are not matches."""
        # scipy where tracking runs: the runner (erpose_mm.runtime) imports without it
        from scipy.optimize import linear_sum_assignment
        if sim.size == 0:
            return []
        rows, cols = linear_sum_assignment(-sim)
        return [(r, c) for r, c in zip(rows, cols) if sim[r, c] >= thr]

    def _update_track(self, t: _Track, kpts: np.ndarray, vis: np.ndarray) -> None:
        gap = max(self.frame - t.last_frame, 1)
        common = t.vis & vis
        if self.use_velocity and common.any():
            step = np.median(kpts[common] - t.kpts[common], axis=0) / gap
            m = self.velocity_momentum if t.hits > 1 else 0.0
            t.velocity = m * t.velocity + (1 - m) * step
        # keypoints not seen now keep their predicted position for the next match
        t.kpts = np.where(vis[:, None], kpts, t.predict(self.frame))
        t.vis = t.vis | vis
        t.last_frame = self.frame
        t.hits += 1
        if t.track_id < 0 and t.hits >= self.min_hits:
            t.track_id = self._new_id()

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    # ------------------------------------------------------------------ public
    def update(self, keypoints: np.ndarray, keypoint_scores: np.ndarray,
               scores: np.ndarray) -> np.ndarray:
        """Assign IDs to one frame's detections.

        Args:
            keypoints: (N, K, 2) keypoints in image pixels.
            keypoint_scores: (N, K) keypoint scores.
            scores: (N,) person scores.

        Returns:
            (N,) int64 track IDs; -1 for a detection that extends no confirmed track
            (below ``low_thr``, unmatched low score, or a tentative new track).
        """
        scores = np.asarray(scores, np.float64).reshape(-1)
        n = len(scores)
        kpts = np.asarray(keypoints, np.float64).reshape(n, -1, 2) if n else np.zeros((0, 0, 2))
        vis = (np.asarray(keypoint_scores, np.float64).reshape(n, -1) > self.kpt_thr) if n \
            else np.zeros((0, 0), bool)
        self.frame += 1
        if self.sigmas is None and kpts.shape[1]:
            self.sigmas = default_sigmas(kpts.shape[1])
        ids = np.full(len(scores), -1, np.int64)
        det_track = [None] * len(scores)

        high = np.nonzero(scores >= self.high_thr)[0]
        low = np.nonzero((scores >= self.low_thr) & (scores < self.high_thr))[0]
        # stage 1: high-score detections against every live track
        sim = self._similarity(self.tracks, kpts[high], vis[high])
        matched_tracks = set()
        for r, c in self._assign(sim, self.match_thr):
            det_track[high[c]] = self.tracks[r]
            matched_tracks.add(r)
        # stage 2: low-score detections against tracks seen in the previous frame
        recent = [i for i, t in enumerate(self.tracks)
                  if i not in matched_tracks and t.last_frame == self.frame - 1]
        sim = self._similarity([self.tracks[i] for i in recent], kpts[low], vis[low])
        for r, c in self._assign(sim, self.low_match_thr):
            det_track[low[c]] = self.tracks[recent[r]]
            matched_tracks.add(recent[r])
        for d, t in enumerate(det_track):
            if t is not None:
                self._update_track(t, kpts[d], vis[d])
        # death: tentative tracks that missed this frame, confirmed ones past max_age
        self.tracks = [t for i, t in enumerate(self.tracks) if i in matched_tracks or (
            t.track_id >= 0 and self.frame - t.last_frame <= self.max_age)]
        # birth
        for d in high:
            if det_track[d] is None and scores[d] >= self.new_track_thr and vis[d].sum() >= 2:
                t = _Track(kpts=kpts[d].copy(), vis=vis[d].copy(), last_frame=self.frame)
                if self.min_hits <= 1 or self.frame == 0:
                    t.track_id = self._new_id()
                self.tracks.append(t)
                det_track[d] = t
        for d, t in enumerate(det_track):
            if t is not None:
                ids[d] = t.track_id
        return ids

    def update_people(self, people: List[dict]) -> List[dict]:
        """:meth:`update` on the tools' per-person dicts (``keypoints`` (K, 2),
        ``keypoint_scores`` (K,), ``bbox_score``): returns the people with a confirmed
        track, each with an added ``track_id``, in the input order."""
        if not people:
            self.update(np.zeros((0, 0, 2)), np.zeros((0, 0)), np.zeros(0))
            return []
        kpts = np.array([p['keypoints'] for p in people], np.float64)
        ksc = np.array([p['keypoint_scores'] for p in people], np.float64)
        sc = np.array([float(np.asarray(p['bbox_score']).reshape(-1)[0]) for p in people])
        ids = self.update(kpts, ksc, sc)
        return [dict(p, track_id=int(i)) for p, i in zip(people, ids) if i >= 0]
