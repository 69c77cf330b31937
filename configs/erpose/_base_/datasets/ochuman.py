# OCHuman test set, for evaluating COCO-trained models (paper Table XI; no fine-tuning).
_base_ = ['./coco.py']
ochuman_root = 'data/ochuman/'
ochuman_ann = 'annotations/ochuman_coco_format_test_range_0.00_1.00.json'
test_dataloader = dict(dataset=dict(
    type='OCHumanDataset', data_root=ochuman_root,
    metainfo=dict(from_file='configs/_base_/datasets/ochuman.py'),
    ann_file=ochuman_ann, data_prefix=dict(img='images/')))
test_evaluator = dict(type='CocoMetric', ann_file=ochuman_root + ochuman_ann,
                      score_mode='bbox', nms_mode='none', prefix='ochuman')
