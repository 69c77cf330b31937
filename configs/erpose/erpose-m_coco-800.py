# ER-Pose-m, COCO, 800x800.
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-m.py',
          './_base_/datasets/coco-800.py']
