# Base of the ER-Pose MMDeploy configs (MMDeploy's `configs/_base_/onnx_config.py` +
# `configs/mmpose/pose-detection_static.py`, written out because the mmdeploy wheel ships
# no configs). Task: pose detection (one-stage, box-free).
#
# The ONNX graph is backbone -> neck -> ER-Pose SAH branch -> decode -> top-k; there is no
# NMS (see erpose_mm/deploy/rewriters.py). Outputs:
#   dets      (B, N, 5): x1, y1, x2, y2, score  (box = tight box around the keypoints)
#   keypoints (B, N, K, 3): x, y, keypoint score
# with N = keep_top_k, in network-input pixels, sorted by score; rows whose score is
# <= score_threshold are padding with score 0.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['dets', 'keypoints'],
    input_shape=None,
    optimize=False)

codebase_config = dict(
    type='mmpose',
    task='PoseDetection',
    post_processing=dict(
        score_threshold=0.01,   # -> score_thr: rows at or below get score 0
        keep_top_k=100,         # -> max_per_img: N, the fixed number of rows per image
        # kept for MMDeploy / SDK tooling that reads them; ER-Pose exports no NMS, so
        # iou_threshold and max_output_boxes_per_class are unused
        iou_threshold=1.0,
        max_output_boxes_per_class=100,
        pre_top_k=-1,
        background_label_id=-1,
    ))

backend_config = dict(type='onnxruntime')
