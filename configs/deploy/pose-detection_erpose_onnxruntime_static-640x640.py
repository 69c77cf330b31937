# ER-Pose -> ONNX Runtime, static 1x3x640x640 input (the COCO-640 configs).
#   python tools/deploy.py configs/deploy/pose-detection_erpose_onnxruntime_static-640x640.py \
#       configs/erpose/erpose-s_coco-640.py CKPT IMG --work-dir work_dirs/erpose-s_ort --device cpu
_base_ = ['./pose-detection_erpose_static.py']

onnx_config = dict(input_shape=[640, 640])  # (w, h), as in MMDeploy

backend_config = dict(type='onnxruntime')
