# ER-Pose -> ONNX Runtime (CUDA execution provider), float16, dynamic batch / height / width.
# MMDeploy's `_base_/backends/onnxruntime-fp16.py` convention (precision='fp16' plus the
# float16 converter's common_config), on top of the fp32 dynamic config.
#   python tools/deploy.py configs/deploy/pose-detection_erpose_onnxruntime-fp16_dynamic.py \
#       configs/erpose/erpose-s_coco-640.py CKPT IMG --work-dir work_dirs/erpose-s_ort16 \
#       --device cuda:0
# tools/deploy.py converts DIR/end2end.onnx in place with erpose_mm.deploy.fp16: backbone,
# neck and head convolutions in float16; the decode (grid + offset * stride, sigmoid,
# top-k), the input and the outputs stay float32, so runners feed and read float32 as for
# the fp32 file (docs/deploy.md, "fp16"). Without tools/deploy.py, the same conversion:
#   python -m erpose_mm.deploy.fp16 end2end.onnx end2end_fp16.onnx
# MMDeploy's own tools/deploy.py would instead call onnxconverter-common on the whole graph
# with this common_config (decode and scores rounded to float16 too).
_base_ = ['./pose-detection_erpose_onnxruntime_dynamic.py']

backend_config = dict(
    type='onnxruntime',
    precision='fp16',
    common_config=dict(
        min_positive_val=1e-7,   # weights are clamped into float16's range
        max_finite_val=1e4,
        keep_io_types=True,      # float32 input / outputs
        disable_shape_infer=False,
        op_block_list=None,
        node_block_list=None))
