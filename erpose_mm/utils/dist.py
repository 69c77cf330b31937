"""Loss normalisers of a batch split over distributed ranks."""
import torch.distributed as dist
from torch import Tensor


def get_world_size() -> int:
    """The number of ranks of the default process group; 1 when torch.distributed is not
    initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank_mean_normalizers(local: Tensor, min_value: float = 1.0) -> Tensor:
    """Loss normalisers that make a DDP step equal one process holding the whole batch.

    ``local`` holds this rank's normaliser counts (e.g. number of positives, sum of the
    confidence targets). Returns ``max(sum over ranks, min_value) / world_size`` per entry
    (detached). A rank that divides its summed loss by it gives gradients whose mean over
    ranks (DDP's gradient average) is the gradient of the batch of all ranks divided by
    ``max(total, min_value)``. One ``all_reduce``: every rank must call it, in the same
    order. With one process it is ``local.clamp(min=min_value)``.
    """
    total = local.detach().clone()
    world_size = get_world_size()
    if world_size > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.clamp(min=min_value) / world_size
