"""Dependency-light ONNX Runtime runner for exported ER-Pose models.

Needs only numpy, opencv-python and onnxruntime: it imports neither torch nor MMPose, and
has no package-relative imports, so the class :class:`ERPoseONNX` can be copied next to a
model or loaded by path. In Python: ``from erpose_mm.deploy import ERPoseONNX``.

Preprocessing replicates the MMPose test pipeline of the ER-Pose configs exactly:

1. ``LoadImage``: ``cv2.imdecode(..., IMREAD_COLOR)`` like ``mmcv.imread`` -> 8-bit BGR
   (grayscale is replicated to 3 channels, alpha is dropped, 16-bit is scaled to 8-bit,
   EXIF orientation is applied).
2. ``BottomupResize(input_size, resize_mode='fit', size_factor=32, pad_val)``: one
   ``cv2.warpAffine`` (bilinear) that scales the image by ``min(W/w, H/h)`` keeping the
   aspect ratio and **centres** it on the W x H canvas -- the padding is split between both
   sides (not top-left), filled with ``pad_val`` (114). The warp matrix is computed as in
   ``mmpose.structures.bbox.get_warp_matrix`` (float32, ``cv2.getAffineTransform``).
3. ``PoseDataPreprocessor``: BGR -> RGB, ``(x - mean) / std`` (mean 0, std 255), NCHW.

Outputs are mapped back as ``BottomupPoseEstimator.add_pred_to_datasample`` does:
``p / input_size * scale + center - scale / 2``; boxes are then clipped to the image.

All parameters are read from the ``erpose`` metadata that ``export_onnx`` /
``tools/deploy.py`` store in the model; files without it fall back to the ER-Pose COCO
defaults.

CLI: ``tools/onnx_infer.py`` (or ``python erpose_mm/deploy/onnx_runner.py``), whose
loop (folders, videos, cameras, batches, tracking) is ``erpose_mm/apis/inference_runner.py``;
both load these files by path, so ``erpose_mm/__init__`` (which imports torch) never runs.
"""
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.jp2', '.pbm',
              '.pgm', '.ppm', '.pnm', '.sr', '.ras', '.exr', '.hdr', '.pic')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.mpg', '.mpeg', '.wmv', '.webm')

# COCO-17 defaults (MMPose configs/_base_/datasets/coco.py), used when a model has no metadata
COCO_SKELETON = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
                 (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
                 (3, 5), (4, 6)]
DEFAULT_META = dict(input_size=[640, 640], dynamic=False, mean=[0., 0., 0.],
                    std=[255., 255., 255.], bgr_to_rgb=True, pad_size_divisor=32,
                    resize=dict(type='BottomupResize', size_factor=32, resize_mode='fit',
                                use_udp=False, aug_scales=None, pad_val=[114., 114., 114.]),
                    score_thr=0.01, max_per_img=100, num_keypoints=17, keypoint_names=[],
                    skeleton_links=COCO_SKELETON, skeleton_link_colors=[],
                    keypoint_colors=[])


class InputError(ValueError):
    """A bad input (missing / unreadable / not an image / empty folder); names the file."""


# ----------------------------------------------------------------------------- reading
def to_bgr8(img: np.ndarray, name: str = '<array>') -> np.ndarray:
    """Any decoded image array -> contiguous 8-bit 3-channel BGR.

    grayscale (H, W) / (H, W, 1) -> replicated; BGRA -> alpha dropped; uint16 -> ``>> 8``
    (what OpenCV's IMREAD_COLOR does); float -> assumed in [0, 1] and scaled to [0, 255].
    """
    if not isinstance(img, np.ndarray):
        raise InputError(f'{name}: expected a numpy image array, got {type(img).__name__}')
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise InputError(f'{name}: not an image array (shape {img.shape})')
    if img.dtype == np.uint8:
        pass
    elif img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype in (np.int8, np.int16, np.int32, np.uint32, np.int64, np.uint64, bool):
        img = np.clip(img, 0, 255).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        img = np.clip(np.nan_to_num(img) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    else:
        raise InputError(f'{name}: unsupported image dtype {img.dtype}')
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.shape[2] == 2:  # gray + alpha
        img = cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2BGR)
    elif img.shape[2] != 3:
        raise InputError(f'{name}: unsupported number of channels {img.shape[2]}')
    return np.ascontiguousarray(img)


def read_image(path: str) -> np.ndarray:
    """Read an image file as 8-bit BGR exactly like ``mmcv.imread(path)`` (MMPose's
    ``LoadImage``); raise :class:`InputError` naming the file when it cannot."""
    if not osp.exists(path):
        raise InputError(f'{path}: file not found')
    if osp.isdir(path):
        raise InputError(f'{path}: is a directory, not an image')
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise InputError(f'{path}: cannot read file ({e})') from None
    if data.size == 0:
        raise InputError(f'{path}: empty file')
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. more pixels than OpenCV's CV_IO_MAX_IMAGE_PIXELS
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else 'decoder error'
        raise InputError(f'{path}: cannot decode image ({msg})') from None
    if img is None:
        raise InputError(f'{path}: cannot decode as an image (corrupt, truncated, too '
                         'large or not an image file)')
    return to_bgr8(img, path)


def list_inputs(path: str) -> Tuple[str, List[str]]:
    """``path`` -> (kind, files) with kind 'image', 'video' or 'folder'.

    A folder yields its image files (by extension, sorted, not recursive); raise
    :class:`InputError` when there is none. Other files are treated as images unless
    their extension is a video one.
    """
    if not osp.exists(path):
        ext = osp.splitext(path)[1].lower()
        what = 'video' if ext in VIDEO_EXTS else 'image file' if ext in IMAGE_EXTS \
            else 'file or folder'
        raise InputError(f'{path}: {what} not found')
    if osp.isdir(path):
        files = sorted(osp.join(path, f) for f in os.listdir(path)
                       if osp.splitext(f)[1].lower() in IMAGE_EXTS
                       and osp.isfile(osp.join(path, f)))
        if not files:
            raise InputError(f'{path}: folder contains no image files '
                             f'({", ".join(IMAGE_EXTS[:6])}, ...)')
        return 'folder', files
    if osp.splitext(path)[1].lower() in VIDEO_EXTS:
        return 'video', [path]
    return 'image', [path]


def check_video(path: str) -> Tuple[float, int, int]:
    """Open a video and decode its first frame; raise :class:`InputError` naming the file
    if that fails. Returns (fps, width, height)."""
    if not osp.isfile(path):
        raise InputError(f'{path}: video not found')
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise InputError(f'{path}: cannot open video (corrupt or unsupported format)')
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InputError(f'{path}: no frame could be decoded from the video')
        return (cap.get(cv2.CAP_PROP_FPS) or 25.0, frame.shape[1], frame.shape[0])
    finally:
        cap.release()


# ----------------------------------------------------------------------------- geometry
def bottomup_resize_params(img_w: int, img_h: int, input_size: Sequence[int],
                           size_factor: int = 32) -> Tuple[np.ndarray, np.ndarray, Tuple]:
    """``BottomupResize`` (resize_mode='fit', no UDP): (center, scale, padded (w, h))."""
    w, h = int(input_size[0]), int(input_size[1])
    pad_w = int(np.ceil(w / size_factor) * size_factor)
    pad_h = int(np.ceil(h / size_factor) * size_factor)
    if (pad_w, pad_h) != (w, h):
        raise ValueError(f'input size {(w, h)} must be a multiple of {size_factor}')
    ratio = img_w / img_h
    rsz_w = min(pad_w, pad_h * ratio)
    rsz_h = min(pad_h, pad_w / ratio)
    center = np.array([img_w / 2, img_h / 2], dtype=np.float32)
    scale = np.array([img_w * pad_w / rsz_w, img_h * pad_h / rsz_h], dtype=np.float32)
    return center, scale, (pad_w, pad_h)


def warp_matrix(center: np.ndarray, scale: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """``mmpose.structures.bbox.get_warp_matrix(center, scale, rot=0, output_size)``."""
    src_w = scale[0]
    dst_w, dst_h = output_size
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0, :] = center
    src[1, :] = center + np.array([src_w * -0.5, 0.])
    dst[0, :] = [dst_w * 0.5, dst_h * 0.5]
    dst[1, :] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([dst_w * -0.5, 0.])
    for pts in (src, dst):  # third point: (a - b) rotated by 90 degrees around b
        d = pts[0, :] - pts[1, :]
        pts[2, :] = pts[1, :] + np.r_[-d[1], d[0]]
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


# ----------------------------------------------------------------------------- model
class DeviceError(ValueError):
    """The asked device / execution provider is not available; says what is missing."""


def resolve_providers(device: Optional[str] = None,
                      providers: Optional[Sequence] = None) -> List:
    """``device`` ('cpu', 'cuda', 'cuda:N') or an explicit ONNX Runtime ``providers`` list
    -> the providers to create the session with; raise :class:`DeviceError` naming what
    is missing when a requested provider is not in this onnxruntime build."""
    import onnxruntime as ort
    available = ort.get_available_providers()
    if providers is not None:
        providers = list(providers)
        names = [p[0] if isinstance(p, (tuple, list)) else p for p in providers]
        missing = [n for n in names if n not in available]
        if missing:
            raise DeviceError(f'onnxruntime {ort.__version__} has no {", ".join(missing)} '
                              f'(available: {", ".join(available)})' + (
                                  '; install onnxruntime-gpu for CUDA'
                                  if 'CUDAExecutionProvider' in missing else ''))
        return providers
    device = (device or 'cpu').lower()
    if device == 'cpu':
        return ['CPUExecutionProvider']
    if device == 'cuda' or device.startswith('cuda:'):
        dev_id = device.split(':', 1)[1] if ':' in device else '0'
        if not dev_id.isdigit():
            raise DeviceError(f'--device {device}: expected cuda or cuda:N')
        if 'CUDAExecutionProvider' not in available:
            raise DeviceError(f'--device {device}: onnxruntime {ort.__version__} has no '
                              f'CUDAExecutionProvider (available: {", ".join(available)}); '
                              'install onnxruntime-gpu and a CUDA runtime')
        return [('CUDAExecutionProvider', {'device_id': int(dev_id)}), 'CPUExecutionProvider']
    raise DeviceError(f'--device {device}: expected cpu, cuda or cuda:N')


DISPLAY_SCORE_THR = 0.3   # the tools' and the runner's default person score threshold


class ERPoseONNX:
    """Run an exported ER-Pose model on BGR images.

    Args:
        model_path: the ``.onnx`` file.
        score_thr: keep people with score > score_thr (default 0.3, the display threshold
            shared with ``tools/infer.py``). The export's own threshold (metadata
            ``score_thr``, 0.01 by default) is a floor: rows below it are not in the output.
        input_size: network input (w, h) or an int; only for dynamic models (default:
            the size stored at export, 640).
        providers: ONNX Runtime execution providers, e.g. ``['CUDAExecutionProvider',
            'CPUExecutionProvider']`` (default: from ``device``).
        num_threads: intra-op threads (default: ONNX Runtime's choice).
        device: 'cpu' (default), 'cuda' or 'cuda:N' when ``providers`` is not given.

    Raises:
        InputError: missing / unloadable model file.
        DeviceError: a requested provider is missing, or CUDA was asked for and could not
            be loaded (ONNX Runtime would otherwise fall back to the CPU silently).
    """

    def __init__(self, model_path: str, score_thr: Optional[float] = DISPLAY_SCORE_THR,
                 input_size: Union[None, int, Sequence[int]] = None,
                 providers: Optional[Sequence] = None,
                 num_threads: Optional[int] = None, device: Optional[str] = None) -> None:
        import onnxruntime as ort
        if not osp.isfile(model_path):
            raise InputError(f'{model_path}: model file not found')
        providers = resolve_providers(device, providers)
        opts = ort.SessionOptions()
        if num_threads:
            opts.intra_op_num_threads = int(num_threads)
        try:
            self.session = ort.InferenceSession(model_path, sess_options=opts,
                                                providers=providers)
        except Exception as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f'{model_path}: cannot load ONNX model ({msg})') from None
        wanted = {p[0] if isinstance(p, (tuple, list)) else p for p in providers}
        lost = sorted(wanted - set(self.session.get_providers()))
        if lost:
            raise DeviceError(f'{model_path}: ONNX Runtime could not start {", ".join(lost)} '
                              '(CUDA / cuDNN libraries missing or no GPU?)')
        custom = self.session.get_modelmeta().custom_metadata_map
        self.meta = dict(DEFAULT_META)
        self.has_metadata = 'erpose' in custom
        if self.has_metadata:
            self.meta.update(json.loads(custom['erpose']))
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_names = [o.name for o in self.session.get_outputs()]
        # None: any batch size (export_onnx(..., dynamic=True)); else the graph's fixed batch
        self.max_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        static_hw = inp.shape[2:4]
        self.dynamic = not all(isinstance(s, int) for s in static_hw)
        if not self.dynamic:
            self.input_size = (int(static_hw[1]), int(static_hw[0]))
            if input_size is not None and tuple(self._as_size(input_size)) != self.input_size:
                raise ValueError(f'{model_path} has a static input of {self.input_size} '
                                 f'(w, h); cannot run it at {self._as_size(input_size)}')
        else:
            self.input_size = tuple(self._as_size(input_size if input_size is not None
                                                  else self.meta['input_size']))
        resize = self.meta['resize']
        if resize.get('resize_mode', 'fit') != 'fit' or resize.get('use_udp') or \
                resize.get('aug_scales'):
            raise ValueError(f'{model_path}: unsupported BottomupResize settings {resize} '
                             "(the runner implements resize_mode='fit' without UDP)")
        self.size_factor = int(resize.get('size_factor', 32))
        self.pad_val = tuple(float(v) for v in resize.get('pad_val', (114, 114, 114)))
        self.mean = np.asarray(self.meta['mean'], np.float32).reshape(1, 1, 3)
        self.std = np.asarray(self.meta['std'], np.float32).reshape(1, 1, 3)
        self.bgr_to_rgb = bool(self.meta['bgr_to_rgb'])
        self.export_score_thr = float(self.meta['score_thr'])
        self.score_thr = float(self.export_score_thr if score_thr is None else score_thr)
        self.skeleton = [tuple(map(int, l)) for l in self.meta.get('skeleton_links') or []]

    @staticmethod
    def _as_size(s) -> Tuple[int, int]:
        if isinstance(s, (int, np.integer)):
            return int(s), int(s)
        s = list(s)
        if len(s) == 1:
            return int(s[0]), int(s[0])
        return int(s[0]), int(s[1])

    # -- pipeline
    def preprocess(self, img: np.ndarray) -> Tuple[np.ndarray, Dict]:
        """BGR uint8 image -> (1, 3, H, W) float32 input and the mapping back."""
        h, w = img.shape[:2]
        center, scale, padded = bottomup_resize_params(w, h, self.input_size, self.size_factor)
        mat = warp_matrix(center, scale, padded)
        warped = cv2.warpAffine(img, mat, padded, flags=cv2.INTER_LINEAR,
                                borderValue=self.pad_val)
        # normalise each channel straight into the NCHW buffer: one pass per channel
        # instead of a float HWC copy, a broadcast and a transpose (~3x faster at 640)
        x = np.empty((1, 3, warped.shape[0], warped.shape[1]), np.float32)
        src = (2, 1, 0) if self.bgr_to_rgb else (0, 1, 2)
        mean, std = np.ravel(self.mean), np.ravel(self.std)
        for c in range(3):
            np.subtract(warped[..., src[c]], mean[c], out=x[0, c], dtype=np.float32)
            x[0, c] *= np.float32(1.0 / std[c])
        return x, dict(center=center, scale=scale, input_size=np.array(padded, np.float32),
                       ori_shape=(h, w))

    def forward(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Raw model outputs for a preprocessed batch: dets (B,N,5), keypoints (B,N,K,3)."""
        outs = self.session.run(None, {self.input_name: x.astype(np.float32, copy=False)})
        named = dict(zip(self.output_names, outs))
        return named.get('dets', outs[0]), named.get('keypoints', outs[1])

    def postprocess(self, dets: np.ndarray, kpts: np.ndarray, info: Dict) -> List[Dict]:
        """One image's raw outputs -> list of people in original-image pixels."""
        keep = dets[:, 4] > self.score_thr
        dets, kpts = dets[keep], kpts[keep]
        rescale = info['scale'] / info['input_size']
        shift = info['center'] - 0.5 * info['scale']
        xy = kpts[..., :2] * rescale + shift
        boxes = dets[:, :4].reshape(-1, 2, 2) * rescale + shift
        boxes = boxes.reshape(-1, 4)
        h, w = info['ori_shape']
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        return [dict(keypoints=xy[i].astype(float).tolist(),
                     keypoint_scores=kpts[i, :, 2].astype(float).tolist(),
                     bbox=boxes[i].astype(float).tolist(), bbox_score=float(dets[i, 4]))
                for i in range(len(dets))]

    def __call__(self, img: Union[str, np.ndarray]) -> List[Dict]:
        """Predict the people of one image (path or BGR array)."""
        return self.predict_batch([img])[0]

    def predict_batch(self, images: Sequence[Union[str, np.ndarray]]) -> List[List[Dict]]:
        """Predict several images (paths or BGR arrays) in batches of up to
        ``max_batch`` (all at once for a dynamic-batch export). -> one list of people
        per image, as :meth:`postprocess`; identical to one image at a time."""
        imgs = [read_image(str(i)) if isinstance(i, (str, os.PathLike)) else to_bgr8(i)
                for i in images]
        step = self.max_batch or max(len(imgs), 1)
        out: List[List[Dict]] = []
        for b in range(0, len(imgs), step):
            pre = [self.preprocess(img) for img in imgs[b:b + step]]
            dets, kpts = self.forward(np.concatenate([x for x, _ in pre]))
            out += [self.postprocess(dets[i], kpts[i], info) for i, (_, info) in enumerate(pre)]
        return out


# ----------------------------------------------------------------------------- drawing
def _palette(n: int, meta_colors) -> List[Tuple[int, int, int]]:
    if meta_colors is not None and len(meta_colors) == n:
        return [tuple(int(c) for c in col[::-1]) for col in meta_colors]  # RGB -> BGR
    return [(0, 255, 0)] * n


def track_color(track_id: int) -> Tuple[int, int, int]:
    """A distinct, stable BGR colour per track ID (golden-ratio steps around the hue
    circle, full saturation and value)."""
    hue = int(((track_id * 0.618033988749895) % 1.0) * 180)
    hsv = np.array([[[hue, 255, 255]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_poses(img: np.ndarray, people: List[Dict], skeleton: Sequence[Tuple[int, int]],
               kpt_thr: float = 0.3, draw_bbox: bool = True, meta: Optional[Dict] = None,
               radius: Optional[int] = None, thickness: Optional[int] = None) -> np.ndarray:
    """Draw skeleton lines, keypoints and (optionally) boxes on a copy of a BGR image.

    A person with a ``track_id`` is drawn entirely in :func:`track_color` of that ID and
    labelled ``id N``; others in the dataset's keypoint / link colours. ``bbox`` may be
    ``[x1, y1, x2, y2]`` or MMPose's ``[[x1, y1, x2, y2]]``.
    """
    out = img.copy()
    h, w = out.shape[:2]
    s = max(1, int(round(max(h, w) / 640)))
    radius = radius or 2 + s
    thickness = thickness or s
    meta = meta or {}
    for p in people:
        kpts = np.asarray(p['keypoints'], np.float64)
        sc = np.asarray(p['keypoint_scores'], np.float64)
        tid = p.get('track_id')
        if tid is not None and tid >= 0:
            col = track_color(int(tid))
            kpt_colors, link_colors = [col] * len(kpts), [col] * len(skeleton)
            box_color, label = col, f'id {tid}'
        else:
            kpt_colors = _palette(len(kpts), meta.get('keypoint_colors'))
            link_colors = _palette(len(skeleton), meta.get('skeleton_link_colors'))
            box_color, label = (255, 128, 0), f"{float(np.ravel(p['bbox_score'])[0]):.2f}"
        if draw_bbox:
            x1, y1, x2, y2 = (int(round(v)) for v in np.ravel(p['bbox'])[:4])
            cv2.rectangle(out, (x1, y1), (x2, y2), box_color, thickness)
            cv2.putText(out, label, (x1, max(0, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * s,
                        box_color, thickness)
        for (a, b), col in zip(skeleton, link_colors):
            if a < len(kpts) and b < len(kpts) and sc[a] > kpt_thr and sc[b] > kpt_thr:
                pa = tuple(int(round(v)) for v in kpts[a])
                pb = tuple(int(round(v)) for v in kpts[b])
                cv2.line(out, pa, pb, col, thickness + 1, cv2.LINE_AA)
        for i, (xy, c) in enumerate(zip(kpts, sc)):
            if c > kpt_thr and np.all(np.isfinite(xy)):
                cv2.circle(out, (int(round(xy[0])), int(round(xy[1]))), radius, kpt_colors[i],
                           -1, cv2.LINE_AA)
    return out


# ----------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    """The command line of ``tools/onnx_infer.py`` (image, folder, video, camera or
    stream; batches, tracking, progress). It lives in ``erpose_mm/apis/inference_runner.py``,
    which is loaded by path (torch-free) from next to this package."""
    here = osp.dirname(osp.abspath(__file__))
    path = osp.join(osp.dirname(here), 'apis', 'inference_runner.py')
    import importlib.util
    name = 'erpose_inference_runner_standalone'
    mod = sys.modules.get(name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod.onnx_main(argv)


if __name__ == '__main__':
    sys.exit(main())
