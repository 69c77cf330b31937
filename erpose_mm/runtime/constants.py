"""Numbers shared by the PyTorch model, the export, the ONNX runner, the tracker and the
evaluation, each written once (plain Python: no numpy, torch or MMPose).

* :data:`COCO_SIGMAS`: the COCO-17 keypoint OKS sigmas (pycocotools / MMPose's
  ``configs/_base_/datasets/coco.py``); :func:`default_sigmas` is the rule for a model or
  a dataset that does not name its own.
* :data:`AREA_PER_BOX`: COCO's mean ratio of a person's segmented area to the area of the
  box around the keypoints; an OKS scale ``s^2 = AREA_PER_BOX x box area`` stands in for
  the annotation's area where there is none (targets, dedupe, evaluation).
* The NMS-free decode's defaults (:data:`DEFAULT_SCORE_THR`, :data:`DEFAULT_MAX_PER_IMG`,
  :data:`DEFAULT_DEDUPE_THR`; precedence in :mod:`erpose_mm.structures.decode_defaults`)
  and the tools' display threshold :data:`DISPLAY_SCORE_THR`.
* :data:`DEFAULT_META`: what the ONNX runner assumes of a model exported without the
  ``erpose`` metadata (the ER-Pose COCO test pipeline).
"""
from typing import List, Optional, Tuple

#: (17,) COCO keypoint OKS sigmas, in COCO's keypoint order
COCO_SIGMAS: Tuple[float, ...] = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072,
                                  0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089,
                                  0.089)
#: OKS sigma of every keypoint of a layout without sigmas of its own
UNIFORM_SIGMA = 0.07
#: COCO-17 skeleton: keypoint index pairs drawn as lines
COCO_SKELETON: Tuple[Tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))

#: COCO: a person's area is about 0.53 x the area of the box around its keypoints
AREA_PER_BOX = 0.53

#: the decode's score floor (COCO AP needs the low-score candidates)
DEFAULT_SCORE_THR = 0.01
#: people kept per image by the decode's top-k
DEFAULT_MAX_PER_IMG = 100
#: OKS threshold of the optional parallel dedupe over the top-k; None: off (a plain top-k)
DEFAULT_DEDUPE_THR: Optional[float] = None
#: the person score threshold of what the inference tools and the runner return and draw
DISPLAY_SCORE_THR = 0.3


def coco_sigmas_if_17(num_keypoints: int) -> Optional[List[float]]:
    """COCO's sigmas for a 17-keypoint model, None for any other keypoint count (whose
    sigmas only the model's own metadata can give)."""
    return list(COCO_SIGMAS) if num_keypoints == len(COCO_SIGMAS) else None


def default_sigmas(num_keypoints: int) -> List[float]:
    """(K,) OKS sigmas where none are given: COCO's for 17 keypoints, else
    :data:`UNIFORM_SIGMA` for every keypoint."""
    return coco_sigmas_if_17(num_keypoints) or [UNIFORM_SIGMA] * num_keypoints


#: the ONNX runner's assumptions for a model without ``erpose`` metadata: the ER-Pose COCO
#: test pipeline (BottomupResize 'fit' to 640 x 640, pad 114, RGB / 255) and decode
DEFAULT_META = dict(input_size=[640, 640], dynamic=False, mean=[0., 0., 0.],
                    std=[255., 255., 255.], bgr_to_rgb=True, pad_size_divisor=32,
                    resize=dict(type='BottomupResize', size_factor=32, resize_mode='fit',
                                use_udp=False, aug_scales=None, pad_val=[114., 114., 114.]),
                    score_thr=DEFAULT_SCORE_THR, max_per_img=DEFAULT_MAX_PER_IMG,
                    dedupe_thr=DEFAULT_DEDUPE_THR, sigmas=list(COCO_SIGMAS),
                    num_keypoints=len(COCO_SIGMAS), keypoint_names=[],
                    skeleton_links=list(COCO_SKELETON),
                    skeleton_link_colors=[], keypoint_colors=[])
