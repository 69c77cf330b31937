# Evaluate a COCO-trained ER-Pose-s (640) on OCHuman test with tools/test.py (Table XI).
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-s.py',
          './_base_/datasets/ochuman.py']
