# ER-Pose -> TensorRT, float16 kernels (fp16_mode), dynamic batch / height / width:
# any multiple of 32 from 320x320 to 1280x1280, batch 1-8, engine tuned for 1x3x640x640.
# Written to MMDeploy's conventions (its `_base_/backends/tensorrt-fp16.py` and
# pose-detection_rtmo_tensorrt-fp16_dynamic-640x640.py). Needs a GPU, TensorRT and
# MMDeploy's TensorRT custom ops; not run in this repository's CI (no GPU there).
# The graph needs no custom op (no NMS): Conv, Sigmoid, Mul, Resize, TopK, GatherElements,
# Reduce*. TensorRT keeps the layers it cannot run accurately in float16 in float32 itself;
# the ONNX file stays float32.
#   python tools/deploy.py configs/deploy/pose-detection_erpose_tensorrt-fp16_dynamic-320x320-1280x1280.py \
#       configs/erpose/erpose-s_coco-640.py CKPT IMG --work-dir work_dirs/erpose-s_trt16 \
#       --device cuda:0
# the dynamic axes (batch, height, width) of the ONNX Runtime dynamic config
_base_ = ['./pose-detection_erpose_onnxruntime_dynamic.py']

backend_config = dict(
    type='tensorrt',
    common_config=dict(fp16_mode=True, max_workspace_size=1 << 30),
    model_inputs=[
        dict(
            input_shapes=dict(
                input=dict(
                    min_shape=[1, 3, 320, 320],
                    opt_shape=[1, 3, 640, 640],
                    max_shape=[8, 3, 1280, 1280])))
    ])
