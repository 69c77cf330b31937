"""MMPose's ``ExpMomentumEMA`` for models that share a module between two heads."""
from mmpose.engine.hooks.ema_hook import ExpMomentumEMA
from mmpose.registry import MODELS


@MODELS.register_module()
class DedupExpMomentumEMA(ExpMomentumEMA):
    """:class:`mmpose.engine.hooks.ExpMomentumEMA` that averages each tensor once per step.

    With ``update_buffers=True`` MMEngine's ``BaseAveragedModel`` averages the entries of
    the model's ``state_dict()``, which lists a tensor shared by two modules under each of
    its names, so such a tensor is averaged twice per step (momentum ~2x). ER-Pose's head
    shares its keypoint branch between SAH and MAH (``share_regression=True``, the default):
    without this class the EMA of the inference-time keypoint branch would follow the
    training weights twice as fast as the rest of the model. Here each tensor is averaged
    once, under its first name; the state dict (and so every checkpoint) is unchanged.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        unique, seen = {}, set()
        for name, tensor in self.avg_parameters.items():
            key = (tensor.data_ptr(), tensor.shape, tensor.dtype)
            if tensor.numel() and key in seen:
                continue
            seen.add(key)
            unique[name] = tensor
        self.avg_parameters = unique
