# CrowdPose (14 keypoints), trained on trainval, evaluated on test with the CrowdPose metric
# (AP_E / AP_M / AP_H via xtcocotools' 'keypoints_crowd'), same recipe as COCO.
_base_ = ['./coco.py']
data_root = 'data/crowdpose/'
dataset_type = 'CrowdPoseDataset'
metainfo_file = 'configs/_base_/datasets/crowdpose.py'
train_ann = 'annotations/mmpose_crowdpose_trainval.json'
val_ann = 'annotations/mmpose_crowdpose_test.json'
train_dataset_type = 'CheckedCrowdPoseDataset'
train_dataloader = dict(dataset=dict(type=train_dataset_type, data_root=data_root,
                                     metainfo=dict(from_file=metainfo_file),
                                     ann_file=train_ann, data_prefix=dict(img='images/')))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   metainfo=dict(from_file=metainfo_file),
                                   ann_file=val_ann, data_prefix=dict(img='images/')))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + val_ann, score_mode='bbox',
                     nms_mode='none', iou_type='keypoints_crowd', prefix='crowdpose',
                     use_area=False)
test_evaluator = val_evaluator
