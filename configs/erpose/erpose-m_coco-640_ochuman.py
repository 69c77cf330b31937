# Evaluate a COCO-trained ER-Pose-m (640) on OCHuman test with tools/test.py (Table XI).
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-m.py',
          './_base_/datasets/ochuman.py']
