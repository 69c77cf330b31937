# ER-Pose-m: YOLOv8-m CSPDarknet/PAN, head on {P3, P4, P5}. 23.36 M params in the paper.
_base_ = ['./erpose-s.py']
deepen_factor = 0.67
widen_factor = 0.75
max_channels = 768
model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor,
                  max_channels=max_channels),
    neck=dict(in_channels=[192, 384, 576], deepen_factor=deepen_factor,
              widen_factor=widen_factor, max_channels=max_channels),
    head=dict(in_channels=[192, 384, 576], conf_channels=192))
