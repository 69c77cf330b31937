# ER-Pose -> ONNX Runtime, static 1x3x640x640 input, with the optional parallel OKS dedupe
# over the top-k baked into the graph (erpose_mm/structures/dedupe.py; fixed shapes, no NMS
# node). Duplicates become padding rows (score 0) after the kept ones.
#   python tools/deploy.py \
#       configs/deploy/pose-detection_erpose_onnxruntime_static-640x640_dedupe.py \
#       configs/erpose/erpose-s_coco-640.py CKPT IMG --work-dir work_dirs/erpose-s_ort_dedupe
_base_ = ['./pose-detection_erpose_onnxruntime_static-640x640.py']

codebase_config = dict(
    post_processing=dict(
        dedupe_threshold=0.8,   # -> dedupe_thr: drop a candidate whose OKS with a higher one > 0.8
    ))
