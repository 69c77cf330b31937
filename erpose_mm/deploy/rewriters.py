"""MMDeploy function rewriters for ER-Pose (imported only when MMDeploy is installed).

MMDeploy exports a ``BottomupPoseEstimator`` by calling ``model._forward(inputs)``
(its ``BasePoseEstimator.forward`` rewriter), i.e. ``backbone -> neck -> head.forward``.
``ERPoseHead.forward`` returns raw per-level maps, so -- like MMDeploy's own RTMO /
YOLOX-Pose rewriters -- we replace it, inside MMDeploy's ``RewriterContext`` only, by
:meth:`ERPoseHead.export_predict`: the one-to-one (SAH) branch, the shared decode and
top-k, and no NMS. Outputs are ``dets`` (B, N, 5) and ``keypoints`` (B, N, K, 3), the
layout MMDeploy's pose-detection ``End2EndModel.pack_yolox_pose_result`` unpacks.

The second rewriter wraps ``torch.onnx.export`` (which MMDeploy calls inside the same
context) to pass :data:`~erpose_mm.compat.ONNX_EXPORT_KWARGS` (``dynamo=False``).

This module must be imported before MMDeploy enters its ``RewriterContext``;
``erpose_mm.deploy`` arranges that (also when MMDeploy is imported after ``erpose_mm``).
"""
from mmdeploy.core import FUNCTION_REWRITER

from ..compat import ONNX_EXPORT_KWARGS
from ..structures import decode_settings, dedupe_setting


def _post_processing_params(ctx, head) -> dict:
    """score_thr / max_per_img / dedupe_thr for export
    (:func:`erpose_mm.structures.decode_settings` and ``dedupe_setting``: the deploy config's
    ``codebase_config.post_processing`` over the model's ``test_cfg``)."""
    post = ctx.cfg.get('codebase_config', {}).get('post_processing', None)
    test_cfg = getattr(head, 'test_cfg', None)
    score_thr, max_per_img = decode_settings(test_cfg, post)
    return dict(score_thr=score_thr, max_per_img=max_per_img,
                dedupe_thr=dedupe_setting(test_cfg, post))


@FUNCTION_REWRITER.register_rewriter(
    func_name='erpose_mm.models.heads.erpose_head.ERPoseHead.forward')
def erpose_head__forward(self, feats, *args, **kwargs):
    """Export-time ``ERPoseHead.forward``: returns ``(dets, keypoints)``."""
    ctx = FUNCTION_REWRITER.get_context()  # must be called in the rewriter itself
    return self.export_predict(feats, **_post_processing_params(ctx, self))


@FUNCTION_REWRITER.register_rewriter(func_name='torch.onnx.export')
def torch_onnx__export(*args, **kwargs):
    """Force the TorchScript exporter (``dynamo=False``) for MMDeploy's export call."""
    ctx = FUNCTION_REWRITER.get_context()
    for k, v in ONNX_EXPORT_KWARGS.items():
        kwargs.setdefault(k, v)
    return ctx.origin_func(*args, **kwargs)
