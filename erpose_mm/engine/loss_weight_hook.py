"""A one-to-many loss weight that changes over training (YOLO26's end-to-end loss schedule)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS


@HOOKS.register_module()
class One2ManyWeightHook(Hook):
    """Set the head's ``one2many_weight`` linearly from ``start`` to ``end`` over training.

    YOLO26 moves its one-to-many / one-to-one loss balance from 0.8 to 0.1 in this way. In
    ER-Pose the one-to-one head (SAH) trains on detached features, so the weight only scales
    the gradients that the losses of the one-to-many head (MAH) send to the MAH, neck and
    backbone; AdamW divides each update by the running gradient RMS, so such a scale mostly
    cancels (except through ``eps``, weight decay relative to the update, and gradient
    clipping over all parameters). The weight is set from ``runner.iter`` at every
    iteration, so a resumed run continues the schedule.
    """

    priority = 'NORMAL'

    def __init__(self, start: float = 0.8, end: float = 0.1) -> None:
        self.start, self.end = float(start), float(end)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        progress = runner.iter / max(runner.max_iters - 1, 1)
        model.head.one2many_weight = self.start + (self.end - self.start) * min(progress, 1.0)
