"""The mapping between the network input and the original image, numpy + OpenCV only.

MMPose's ``BottomupResize(resize_mode='fit', use_udp=False)`` scales an image by
``min(W / w, H / h)`` keeping its aspect ratio and centres it on the W x H input canvas;
its metainfo is ``input_center`` (image centre, image px), ``input_scale`` (the image
region the whole input covers, image px) and ``input_size`` (W, H). A point ``p`` of the
input maps back as ``BottomupPoseEstimator.add_pred_to_datasample`` does:
``p * scale / input_size + center - scale / 2`` (:func:`input_to_image`); the part of the
input that the image covers is :func:`image_region_in_input`.
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np


def bottomup_resize_params(img_w: int, img_h: int, input_size: Sequence[int],
                           size_factor: int = 32) -> Tuple[np.ndarray, np.ndarray, Tuple]:
    """``BottomupResize`` (resize_mode='fit', no UDP) of an ``img_w`` x ``img_h`` image:
    (center (2,), scale (2,), padded input (w, h)), center and scale float32 image px."""
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
    """(2, 3) image -> input affine matrix, as
    ``mmpose.structures.bbox.get_warp_matrix(center, scale, rot=0, output_size)``."""
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


def input_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray,
                   input_size: np.ndarray) -> np.ndarray:
    """Input px -> original-image px.

    Args:
        points: (..., 2) x, y in input pixels (a box (N, 4) as ``reshape(-1, 2, 2)``).
        center, scale: (2,) the resize metainfo (``input_center``, ``input_scale``).
        input_size: (2,) input (w, h).

    Returns:
        (..., 2) in image pixels, ``points * (scale / input_size) + (center - scale / 2)``,
        in the dtype numpy's promotion of the arguments gives.
    """
    return points * (scale / input_size) + (center - 0.5 * scale)


def clip_boxes_to_image(boxes: np.ndarray, ori_shape: Sequence[int]) -> np.ndarray:
    """Clip (N, 4) x1, y1, x2, y2 boxes in place to an image of ``ori_shape`` (h, w, ...);
    returns ``boxes``."""
    h, w = ori_shape[:2]
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
    return boxes


def image_region_in_input(input_size: Sequence[float],
                          center: Optional[Sequence[float]] = None,
                          scale: Optional[Sequence[float]] = None,
                          ori_shape: Optional[Sequence[int]] = None
                          ) -> Tuple[float, float, float, float]:
    """The part of the network input that the image covers, (x0, y0, x1, y1) input px.

    Boxes clipped to it map back inside the original image. ``BottomupResize`` centres the
    image and pads around it; without its metainfo (``center``, ``scale``, ``ori_shape``
    (h, w, ...)) the whole input ``(0, 0, w, h)``.
    """
    w, h = (float(v) for v in input_size)
    if center is None or scale is None or ori_shape is None:
        return (0.0, 0.0, w, h)
    c = np.asarray(center, np.float64)
    s = np.asarray(scale, np.float64)
    oh, ow = ori_shape[:2]
    lo = (0.0 - (c - 0.5 * s)) / s * (w, h)
    hi = (np.array([ow, oh], np.float64) - (c - 0.5 * s)) / s * (w, h)
    return (max(lo[0], 0.0), max(lo[1], 0.0), min(hi[0], w), min(hi[1], h))
