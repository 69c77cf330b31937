# COCO at 800x800 (paper Table I, bottom half): the pipelines of ./coco.py with every
# input-size setting at 800. A base builds its pipelines with its own `input_size` when it
# is read, so they are rebuilt here from the base's (`_base_.<name>`; functions defined
# in a config are not config keys).
_base_ = ['./coco.py']
input_size = (800, 800)
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)


def _at_input_size(pipeline):
    """`pipeline` with Mosaic's `img_scale`, the affine's and the resize's `input_size`
    and the target codec at this config's `input_size`."""
    sized = dict(img_scale=input_size, input_size=input_size, encoder=codec)
    return [{k: sized.get(k, v) for k, v in t.items()} for t in pipeline]


train_pipeline_stage1 = _at_input_size(_base_.train_pipeline_stage1)
train_pipeline_stage2 = _at_input_size(_base_.train_pipeline_stage2)
val_pipeline = _at_input_size(_base_.val_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline_stage1))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
