"""What tools/train.py and tools/test.py share: CPU DDP under torchrun / srun, the runner
they build, and how a refusal ends a run (one ``error: ...`` line, exit status 2)."""
import logging
import sys
from mmengine.config import Config

#: exit status of every refusal of the tools (bad data, a checkpoint that does not fit,
#: an incomplete --resume checkpoint, bad flags)
REFUSAL_STATUS = 2


def refusals() -> tuple:
    """The exceptions that are refusals (one-line messages), not crashes."""
    from ..datasets.checks import DatasetCheckError
    from ..utils.checkpoint_fit import CheckpointMismatchError
    from .safe_checkpoint import ResumeError
    return DatasetCheckError, CheckpointMismatchError, ResumeError


def refuse(line: str, runner=None) -> None:
    """Print ``line`` on stderr, also write it to the run's log file when there is a
    runner (not through the console handler, which would prefix it), and exit with
    :data:`REFUSAL_STATUS`."""
    if runner is not None:
        record = logging.LogRecord(runner.logger.name, logging.ERROR, __file__, 0, line,
                                   None, None)
        for handler in runner.logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)
    print(line, file=sys.stderr)
    sys.exit(REFUSAL_STATUS)


def setup_cpu_ddp(cfg: Config, launcher: str) -> bool:
    """torchrun / srun without GPUs: a gloo process group and CPU DDP in ``cfg``
    (:func:`erpose_mm.compat.init_cpu_distributed`); ``sync_bn`` is refused there (torch's
    SyncBatchNorm runs on CUDA devices only). Returns whether CPU DDP is used."""
    from .. import compat
    if not compat.init_cpu_distributed(launcher):
        return False
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.model_wrapper_cfg = compat.cpu_ddp_wrapper_cfg()
    if cfg.get('sync_bn'):
        refuse(f"error: sync_bn={cfg.sync_bn!r} needs GPUs (torch's SyncBatchNorm runs on "
               'CUDA devices only); on CPUs train with per-process BN (no sync_bn)')
    return True


def build_runner(cfg: Config, launcher: str = 'none'):
    """:class:`~erpose_mm.engine.runner.ERPoseRunner` for ``cfg`` (CPU DDP set up first)."""
    from .runner import ERPoseRunner
    setup_cpu_ddp(cfg, launcher)
    return ERPoseRunner.from_cfg(cfg)


def run_or_refuse(runner, method: str = 'train'):
    """``runner.<method>()``; a refusal (:func:`refusals`) ends the run with its one
    line instead of a traceback."""
    try:
        return getattr(runner, method)()
    except refusals() as e:
        refuse(f'error: {e}', runner)
