# ER-Pose -> ONNX Runtime with dynamic batch, height and width. The model is traced at the
# model config's input size (640) but runs on any size that is a multiple of 32 (e.g.
# 800x800; onnx_runner --input-size 800). Fewer than keep_top_k candidates (tiny inputs)
# are handled: the missing rows are padding with score 0.
_base_ = ['./pose-detection_erpose_static.py']

onnx_config = dict(
    dynamic_axes={
        'input': {
            0: 'batch',
            2: 'height',
            3: 'width'
        },
        'dets': {
            0: 'batch',
        },
        'keypoints': {
            0: 'batch'
        }
    })

backend_config = dict(type='onnxruntime')
