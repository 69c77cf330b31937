"""The torch-free side of erpose-mm: what runs an exported model, needing only numpy,
opencv-python, onnxruntime (or openvino), scipy and tqdm -- neither torch, mmcv nor MMPose.

* :mod:`.onnx_runner`: :class:`ERPoseONNX`, the ONNX Runtime / OpenVINO runner
  (preprocessing, model, mapping back, optional numpy dedupe :func:`dedupe_rows`);
* :mod:`.image_io`: image / video / folder input (:func:`read_image`, :class:`InputError`);
* :mod:`.geometry`: the network input <-> original image mapping of ``BottomupResize``;
* :mod:`.constants`: dataset sigmas, the 0.53 box-to-area ratio, decode and display
  defaults, the runner's metadata defaults;
* :mod:`.tracker`: :class:`PoseTracker` (person IDs across frames);
* :mod:`.drawing`: :func:`draw_poses`;
* :mod:`.inference_loop` and :mod:`.cli`: the loop of ``tools/infer.py`` and
  ``tools/onnx_infer.py`` (``python -m erpose_mm.runtime MODEL.onnx INPUT``).

``import erpose_mm.runtime`` works without torch: ``erpose_mm/__init__`` registers the
MMPose modules only where the OpenMMLab stack can be imported, and not at all under
``ERPOSE_MM_RUNTIME_ONLY=1`` (what ``tools/onnx_infer.py`` sets, so that it never loads
torch even where torch is installed).
"""
from .constants import COCO_SIGMAS, DEFAULT_META, DISPLAY_SCORE_THR, default_sigmas
from .drawing import draw_poses, track_color
from .image_io import InputError, read_image, to_bgr8
from .onnx_runner import DeviceError, ERPoseONNX, OpenVINOSession, dedupe_rows
from .tracker import PoseTracker, visible_oks_matrix

__all__ = ['ERPoseONNX', 'OpenVINOSession', 'DeviceError', 'InputError', 'dedupe_rows',
           'read_image', 'to_bgr8', 'draw_poses', 'track_color', 'PoseTracker',
           'visible_oks_matrix', 'COCO_SIGMAS', 'DEFAULT_META', 'DISPLAY_SCORE_THR',
           'default_sigmas']
