# ER-Pose-n, COCO, 640x640, paper recipe (AdamW, cosine 0.01 -> 1e-4, 600 epochs, 4 x 32).
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-n.py',
          './_base_/datasets/coco.py']
