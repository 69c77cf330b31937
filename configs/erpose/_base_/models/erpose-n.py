# ER-Pose-n: YOLOv8-n CSPDarknet/PAN, head on {P4, P5} only (paper Table V). 2.53 M params.
_base_ = ['./erpose-s.py']
deepen_factor = 0.33
widen_factor = 0.25
model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    neck=dict(in_channels=[64, 128, 256], deepen_factor=deepen_factor,
              widen_factor=widen_factor),
    head=dict(in_channels=[128, 256], featmap_strides=[16, 32], conf_channels=64))
