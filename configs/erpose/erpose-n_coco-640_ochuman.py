# Evaluate a COCO-trained ER-Pose-n (640) on OCHuman test with tools/test.py (Table XI).
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-n.py',
          './_base_/datasets/ochuman.py']
