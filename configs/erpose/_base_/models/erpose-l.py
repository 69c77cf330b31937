# ER-Pose-l: YOLOv8-l CSPDarknet/PAN, head on {P3, P4, P5}. 39.95 M params in the paper.
_base_ = ['./erpose-s.py']
deepen_factor = 1.0
widen_factor = 1.0
max_channels = 512
model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor,
                  max_channels=max_channels),
    neck=dict(in_channels=[256, 512, 512], deepen_factor=deepen_factor,
              widen_factor=widen_factor, max_channels=max_channels),
    head=dict(in_channels=[256, 512, 512], conf_channels=256))
