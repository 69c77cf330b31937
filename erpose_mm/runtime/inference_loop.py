"""The inference loop shared by ``tools/infer.py`` (PyTorch / MMPose) and
``tools/onnx_infer.py`` (ONNX Runtime): one user surface for both.

Inputs: an image, a folder of images, a video file, a camera (``webcam``, ``webcam:N``,
``camera:N`` or a bare index ``N``) or a stream URL that OpenCV opens (``rtsp://``,
``http://``, ...). Frames go to the model in batches (``--batch-size``), optionally
through the pose tracker (``--track``), are drawn and shown (``--show``; q or Esc stops)
and/or written under ``--out-dir``; Ctrl-C stops cleanly and keeps what was done.

Outputs (named after the whole input file name, so ``a.jpg`` and ``a.png`` never
collide; an existing file is never replaced unless ``--overwrite``):

* ``OUT/predictions/NAME.json``: MMPoseInferencer's format: per person ``keypoints``
  [[x, y]] * K, ``keypoint_scores``, ``bbox`` [[x1, y1, x2, y2]] (derived from the
  keypoints), ``bbox_score``, and ``track_id`` with ``--track``; for a video or camera
  ``[{frame_id, instances: [...]}]``. NAME is the input's file name (``a.jpg.json``), the
  camera (``camera0.json``) or the stream (``stream_HOST_PATH.json``).
* ``OUT/visualizations/NAME``: the drawing, same file name for images OpenCV can write
  (else ``NAME.png``); ``NAME`` for an ``.mp4`` video, else ``NAME.mp4``.

Torch-free (numpy + opencv + the runner's helpers + the tracker). The options both
tools share and the ONNX command line are :mod:`erpose_mm.runtime.cli`.
"""
import json
import os
import os.path as osp
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .drawing import draw_poses
from .image_io import InputError, check_video, list_inputs, read_image
from .onnx_runner import DeviceError
from .tracker import PoseTracker

# image formats cv2.imwrite writes under the input's own extension
WRITABLE_IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm',
                       '.pgm', '.pbm', '.pnm')
Predictor = Callable[[List[np.ndarray]], List[List[dict]]]


class OutputExists(ValueError):
    """An output file of an earlier run is in the way (and --overwrite was not given)."""


# ----------------------------------------------------------------------------- sources
@dataclass
class Source:
    """What the user asked to run on. ``kind``: image, folder, video, camera, stream."""
    kind: str
    spec: str
    files: List[str] = field(default_factory=list)
    target: object = None        # cv2.VideoCapture argument (path, index or URL)
    name: str = ''               # output name of a video / camera / stream


_CAMERA = re.compile(r'(?:(?:webcam|camera)(?::(\d+))?|(\d+))', re.IGNORECASE)
_URL = re.compile(r'^[a-z][a-z0-9+.-]*://', re.IGNORECASE)


def parse_source(spec: str) -> Source:
    """Classify the input; raise :class:`InputError` naming it if it cannot be used.

    ``webcam`` / ``webcam:N`` / ``camera:N`` / ``N`` (when no such file exists) is camera
    N; ``scheme://...`` is a stream; otherwise a file or folder (see ``list_inputs``).
    """
    s = spec.strip()
    m = _CAMERA.fullmatch(s)
    if m and not osp.exists(s):
        idx = int(m.group(1) or m.group(2) or 0)
        return Source('camera', spec, target=idx, name=f'camera{idx}')
    if _URL.match(s):
        tail = re.sub(r'[^A-Za-z0-9._-]+', '_', s.split('://', 1)[1]).strip('_.')[:80]
        return Source('stream', spec, target=s, name='stream_' + (tail or 'url'))
    kind, files = list_inputs(s)
    if kind == 'video':
        check_video(s)
        return Source('video', spec, files, target=s, name=osp.basename(s))
    return Source(kind, spec, files)


def open_capture(source: Source) -> cv2.VideoCapture:
    """cv2.VideoCapture of a video / camera / stream source, checked to be open."""
    cap = cv2.VideoCapture(source.target)
    if not cap.isOpened():
        cap.release()
        what = {'camera': f'camera {source.target} ({source.spec}): cannot be opened (no '
                          'camera with that index, in use, or no permission)',
                'stream': f'{source.spec}: cannot open the stream (unreachable, or a '
                          'protocol / codec this OpenCV build does not support)'}
        raise InputError(what.get(source.kind, f'{source.spec}: cannot open video'))
    return cap


# ----------------------------------------------------------------------------- outputs
def output_names(source: Source) -> List[Tuple[str, str]]:
    """(JSON file name, visualization file name) per output of ``source``."""
    if source.kind in ('image', 'folder'):
        out = []
        for f in source.files:
            name = osp.basename(f)
            ext = osp.splitext(name)[1].lower()
            out.append((name + '.json', name if ext in WRITABLE_IMAGE_EXTS else name + '.png'))
        return out
    name = source.name
    return [(name + '.json', name if name.lower().endswith('.mp4') else name + '.mp4')]


def _exists_message(path: str, more: int = 0) -> str:
    extra = f' (and {more} more)' if more else ''
    return (f'{path} already exists{extra}; pass --overwrite to replace earlier results or '
            'choose another --out-dir')


def check_outputs(paths: Sequence[str], overwrite: bool) -> None:
    """Refuse (one line) if an output file already exists, unless ``overwrite``."""
    existing = [p for p in paths if osp.exists(p)]
    if existing and not overwrite:
        raise OutputExists(_exists_message(existing[0], len(existing) - 1))


def claim_outputs(paths: Sequence[str]) -> List[str]:
    """Create every output file empty with ``O_CREAT | O_EXCL``, so that of two runs into
    the same folder exactly one owns each name (the check of :func:`check_outputs` alone
    lets both pass). On a name that exists, remove what this call created and raise
    :class:`OutputExists` (one line). Returns the claimed paths."""
    claimed: List[str] = []
    for p in paths:
        os.makedirs(osp.dirname(p) or '.', exist_ok=True)
        try:
            os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            release_claims(claimed, ())
            raise OutputExists(_exists_message(p)) from None
        claimed.append(p)
    return claimed


def release_claims(claimed: Sequence[str], written) -> None:
    """Remove the claimed files that were never written (still empty placeholders)."""
    for p in claimed:
        if p not in written:
            try:
                if osp.getsize(p) == 0:
                    os.remove(p)
            except OSError:
                pass


def to_mmpose_json(person: dict) -> dict:
    """A person in MMPoseInferencer's JSON format (``bbox`` as [[x1, y1, x2, y2]])."""
    out = dict(keypoints=np.asarray(person['keypoints'], float).tolist(),
               keypoint_scores=np.asarray(person['keypoint_scores'], float).tolist(),
               bbox=[np.asarray(person['bbox'], float).reshape(-1)[:4].tolist()],
               bbox_score=float(np.ravel(person['bbox_score'])[0]))
    if person.get('track_id') is not None:
        out['track_id'] = int(person['track_id'])
    return out


def _dump_json(obj, path: str) -> None:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)


# ----------------------------------------------------------------------------- loop
class _Progress:
    """tqdm bar (frames done / total, frames per second) + the final throughput line."""

    def __init__(self, total: Optional[int], unit: str, desc: str, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5)
        self.t0 = time.perf_counter()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def write(self, msg: str) -> None:
        """A line on stderr that does not break the bar."""
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr)

    def close(self) -> float:
        if self.bar is not None:
            self.bar.close()
        return time.perf_counter() - self.t0


class InferenceLoop:
    """Run ``predict`` over a :class:`Source` with the options of :func:`add_common_args`.

    Args:
        predict: list of BGR images -> per image a list of people (``keypoints`` (K, 2),
            ``keypoint_scores`` (K,), ``bbox`` [x1, y1, x2, y2], ``bbox_score``) with
            score above :func:`model_score_thr`, in original-image pixels.
        args: parsed options.
        skeleton: keypoint index pairs to draw.
        meta: colours (``keypoint_colors``, ``skeleton_link_colors``, RGB).
    """

    def __init__(self, predict: Predictor, args, skeleton: Sequence[Tuple[int, int]],
                 meta: Optional[Dict] = None) -> None:
        self.predict, self.args = predict, args
        self.skeleton, self.meta = list(skeleton), meta or {}
        self.tracker = PoseTracker(high_thr=args.score_thr, low_thr=args.track_low_thr,
                                   max_age=args.track_max_age) if args.track else None
        self.model_time = 0.0
        self.n_people = 0
        self.ids = set()
        self.written: set = set()   # output files this run wrote (see claim_outputs)

    # -- per image
    def _infer(self, images: List[np.ndarray]) -> List[List[dict]]:
        t0 = time.perf_counter()
        preds = self.predict(images)
        self.model_time += time.perf_counter() - t0
        out = []
        for people in preds:
            if self.tracker is not None:
                people = self.tracker.update_people(people)
                self.ids.update(p['track_id'] for p in people)
            else:
                people = [p for p in people
                          if float(np.ravel(p['bbox_score'])[0]) > self.args.score_thr]
            self.n_people += len(people)
            out.append(people)
        return out

    def _draw(self, img: np.ndarray, people: List[dict]) -> np.ndarray:
        a = self.args
        return draw_poses(img, people, self.skeleton, a.kpt_thr, not a.no_bbox, self.meta,
                              radius=a.radius, thickness=a.thickness)

    def _show(self, vis: np.ndarray, wait_ms: int) -> bool:
        """Show a frame; True when the user pressed q or Esc."""
        cv2.imshow('erpose-mm', vis)
        key = cv2.waitKey(wait_ms) & 0xFF
        return key in (ord('q'), ord('Q'), 27)

    def _mark_written(self, path: str) -> None:
        self.written.add(path)

    def _paths(self, source: Source) -> List[Tuple[str, Optional[str]]]:
        out = self.args.out_dir
        if not out:
            return [(None, None)] * len(output_names(source))
        return [(osp.join(out, 'predictions', j),
                 None if self.args.no_vis else osp.join(out, 'visualizations', v))
                for j, v in output_names(source)]

    # -- public
    def run(self, source: Source) -> int:
        """Process ``source``; returns the exit status (0: results, 2: nothing read)."""
        a = self.args
        self.written, claimed = set(), []
        if a.out_dir:
            paths = [p for pair in self._paths(source) for p in pair if p]
            check_outputs(paths, a.overwrite)
            if not a.overwrite:
                claimed = claim_outputs(paths)
        try:
            return self._run(source)
        finally:
            release_claims(claimed, self.written)

    def _run(self, source: Source) -> int:
        a = self.args
        if a.show:
            # OpenCV's Qt backend aborts the process (no exception) when it finds no display
            if sys.platform.startswith('linux') and not any(
                    os.environ.get(v) for v in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM')):
                raise DeviceError('--show: no display (DISPLAY is not set); use --out-dir, '
                                  'or run where a display is available')
            try:
                cv2.namedWindow('erpose-mm', cv2.WINDOW_NORMAL)
            except cv2.error:
                raise DeviceError('--show: this OpenCV build has no GUI support '
                                  '(opencv-python-headless?); use --out-dir instead') from None
        t0 = time.perf_counter()
        try:
            if source.kind in ('image', 'folder'):
                n, unit, note = self._run_images(source)
            else:
                n, unit, note = self._run_frames(source)
        finally:
            if a.show:
                cv2.destroyAllWindows()
        elapsed = max(time.perf_counter() - t0, 1e-9)
        if not n:
            return 2
        ids = f', {len(self.ids)} track IDs' if self.tracker is not None else ''
        print(f'{source.spec}: {n} {unit}{"s" if n != 1 else ""}, {self.n_people} people{ids} '
              f'in {elapsed:.1f} s: '
              f'{n / elapsed:.2f} {unit}s/s (model {1e3 * self.model_time / n:.1f} ms/{unit}, '
              f'batch {a.batch_size}){note}')
        if a.out_dir:
            print(f'results written to {osp.join(a.out_dir, "predictions")}'
                  + ('' if a.no_vis else f' and {osp.join(a.out_dir, "visualizations")}'))
        return 0

    def _run_images(self, source: Source):
        a, paths = self.args, self._paths(source)
        todo = list(zip(source.files, paths))
        bar = _Progress(len(todo), 'image', osp.basename(source.spec.rstrip('/')),
                        enabled=source.kind == 'folder')
        n = 0
        skipped, stop = [], None
        try:
            for b in range(0, len(todo), a.batch_size):
                batch, imgs = [], []
                for f, out in todo[b:b + a.batch_size]:
                    try:
                        imgs.append(read_image(f))
                        batch.append((f, out))
                    except InputError as e:
                        if source.kind == 'image':
                            raise
                        bar.write(f'warning: skipped {e}')
                        skipped.append(f)
                if not imgs:
                    continue
                for (f, (js, vis_path)), img, people in zip(batch, imgs, self._infer(imgs)):
                    n += 1
                    if a.out_dir:
                        _dump_json([to_mmpose_json(p) for p in people], js)
                        self._mark_written(js)
                    if (a.out_dir and vis_path) or a.show:
                        vis = self._draw(img, people)
                        if a.out_dir and vis_path:
                            os.makedirs(osp.dirname(vis_path), exist_ok=True)
                            if not cv2.imwrite(vis_path, vis):
                                raise InputError(f'{vis_path}: cannot write the drawing')
                            self._mark_written(vis_path)
                        if a.show and self._show(vis, 0):
                            stop = 'q'
                            break
                    if source.kind == 'image':
                        print(f'{f}: {len(people)} people')
                bar.update(len(imgs))
                if stop:
                    break
        except KeyboardInterrupt:
            stop = 'Ctrl-C'
        finally:
            bar.close()
        if not n and source.kind == 'folder':
            raise InputError(f'{source.spec}: none of its {len(todo)} image files could be '
                             'read')
        note = f', {len(skipped)} unreadable files skipped' if skipped else ''
        if stop:
            note += f'; stopped by {stop} after {n} of {len(todo)} images'
        return n, 'image', note

    def _run_frames(self, source: Source):
        a = self.args
        (js, vis_path), = self._paths(source)
        cap = open_capture(source)
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if source.kind == 'video' else 0
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0)
        fps = fps if 1 <= fps <= 240 else 25.0
        bar = _Progress(total or None, 'frame', source.name, enabled=True)
        writer, frames, stop, ended = None, [], None, False
        try:
            while not (stop or ended):
                batch = []
                while len(batch) < a.batch_size:
                    ok, frame = cap.read()
                    if not ok or frame is None:
                        ended = True
                        break
                    batch.append(frame)
                if not batch:
                    break
                for frame, people in zip(batch, self._infer(batch)):
                    frames.append(dict(frame_id=len(frames),
                                       instances=[to_mmpose_json(p) for p in people]))
                    if (a.out_dir and vis_path) or a.show:
                        vis = self._draw(frame, people)
                        if a.out_dir and vis_path:
                            if writer is None:
                                os.makedirs(osp.dirname(vis_path), exist_ok=True)
                                writer = cv2.VideoWriter(vis_path,
                                                         cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                                         (vis.shape[1], vis.shape[0]))
                                self._mark_written(vis_path)
                            writer.write(vis)
                        if a.show and self._show(vis, 1):
                            stop = 'q'
                            break
                bar.update(len(batch))
        except KeyboardInterrupt:
            stop = 'Ctrl-C'
        finally:
            cap.release()
            if writer is not None:
                writer.release()
            bar.close()
        n = len(frames)
        if not n:
            raise InputError(f'{source.spec}: no frame could be read')
        if a.out_dir:
            _dump_json(frames, js)
            self._mark_written(js)
        note = ''
        if stop:
            note = f'; stopped by {stop} after {n} frames' + (f' of {total}' if total else '')
        elif total and n < total:
            msg = (f'{source.spec}: the video ended after {n} of {total} frames (truncated '
                   'or damaged file); results cover the frames read')
            print(f'warning: {msg}', file=sys.stderr)
            note = f'; {n} of {total} frames read'
        return n, 'frame', note
