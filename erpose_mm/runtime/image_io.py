"""Image and video input, numpy + OpenCV only.

Shared by the ONNX Runtime runner, the inference tools and the ONNX export's calibration
(MMPose's ``LoadImage`` reproduced without torch or MMPose; the letterbox geometry of
``BottomupResize`` is :mod:`erpose_mm.runtime.geometry`).
"""
import os
import os.path as osp
from typing import List, Tuple

import cv2
import numpy as np

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.jp2', '.pbm',
              '.pgm', '.ppm', '.pnm', '.sr', '.ras', '.exr', '.hdr', '.pic')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.mpg', '.mpeg', '.wmv', '.webm')


class InputError(ValueError):
    """A bad input (missing / unreadable / not an image / empty folder); names the file."""


# ----------------------------------------------------------------------------- reading
def to_bgr8(img: np.ndarray, name: str = '<array>') -> np.ndarray:
    """Any decoded image array -> contiguous 8-bit 3-channel BGR.

    grayscale (H, W) / (H, W, 1) -> replicated; BGRA -> alpha dropped; uint16 -> ``>> 8``
    (what OpenCV's IMREAD_COLOR does). Float images: the range is read from the values, by
    one rule: a maximum above 1.0 means [0, 255] (rounded), else [0, 1] (scaled by 255);
    values below 0 or above 255 fit neither and are refused (:class:`InputError`), as are
    NaN / inf. (An almost black [0, 255] image with every value <= 1.0 reads as [0, 1]:
    convert such arrays with ``img.astype(np.uint8)`` first.)
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
        if not np.isfinite(img).all():
            raise InputError(f'{name}: float image holds NaN or inf values')
        lo, hi = float(img.min()), float(img.max())
        if lo < 0.0 or hi > 255.0:
            raise InputError(f'{name}: float image values span [{lo:g}, {hi:g}], neither '
                             '[0, 1] nor [0, 255]; rescale it, or pass uint8')
        scale = 1.0 if hi > 1.0 else 255.0
        img = np.clip(img.astype(np.float64) * scale + 0.5, 0, 255).astype(np.uint8)
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
