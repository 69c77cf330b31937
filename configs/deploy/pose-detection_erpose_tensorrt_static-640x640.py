# ER-Pose -> TensorRT, static 1x3x640x640 (written to MMDeploy's conventions, cf. its
# pose-detection_yolox-pose_tensorrt_dynamic-640x640.py / RTMO configs). Needs a GPU,
# TensorRT and MMDeploy's TensorRT custom ops; NOT tested in this repository (no GPU here).
# The graph needs no custom op (no NMS): Conv, Sigmoid, TopK, GatherElements, Reduce*.
#   python tools/deploy.py configs/deploy/pose-detection_erpose_tensorrt_static-640x640.py \
#       configs/erpose/erpose-s_coco-640.py CKPT IMG --work-dir work_dirs/erpose-s_trt \
#       --device cuda:0
_base_ = ['./pose-detection_erpose_static.py']

onnx_config = dict(input_shape=[640, 640])

backend_config = dict(
    type='tensorrt',
    common_config=dict(fp16_mode=False, max_workspace_size=1 << 30),
    model_inputs=[
        dict(
            input_shapes=dict(
                input=dict(
                    min_shape=[1, 3, 640, 640],
                    opt_shape=[1, 3, 640, 640],
                    max_shape=[1, 3, 640, 640])))
    ])
