# ER-Pose-n on a 5-keypoint set (nose, wrists, ankles) made from the synthetic data, 256x256:
# the worked example of docs/custom_keypoints.md (another keypoint set, converted from
# YOLO-pose labels). What differs from a 17-keypoint config: the head's num_keypoints and
# metainfo, and the datasets' metainfo; the head's keypoint branch width follows K.
_base_ = ['./erpose-n_synthetic-256.py']

num_keypoints = 5
metainfo = 'configs/erpose/_base_/metainfo/synthetic5.py'
data_root = 'data/synthetic5/'
train_ann = 'annotations/train.json'
val_ann = 'annotations/val.json'

model = dict(head=dict(num_keypoints=num_keypoints, metainfo=metainfo))
train_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file=train_ann, data_prefix=dict(img='images/train/'),
    metainfo=dict(from_file=metainfo)))
val_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file=val_ann, data_prefix=dict(img='images/val/'),
    metainfo=dict(from_file=metainfo)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + val_ann)
test_evaluator = val_evaluator
