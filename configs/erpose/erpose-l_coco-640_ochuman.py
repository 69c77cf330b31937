# Evaluate a COCO-trained ER-Pose-l (640) on OCHuman test with tools/test.py (Table XI).
_base_ = ['./_base_/default_runtime.py', './_base_/models/erpose-l.py',
          './_base_/datasets/ochuman.py']
