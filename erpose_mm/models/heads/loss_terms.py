"""What the loss dict of :meth:`ERPoseHead.loss` holds: losses and logged statistics.

* Losses: every entry whose name starts with :data:`LOSS_PREFIX` (``loss_pose``,
  ``loss_vis``, ``loss_conf``, ``loss_bbox``). The training objective is their sum
  (:func:`total_loss`; MMEngine's ``parse_losses`` sums every entry whose name contains
  ``'loss'``, the same entries, since no statistic's name contains it).
* Statistics (:data:`STATISTICS`): logged beside the losses, never summed.

The one-to-one head (SAH) logs its entries under these names, the one-to-many head (MAH)
under the same names with :data:`ONE2MANY_SUFFIX` (``loss_pose_o2m``, ``num_pos_o2m``;
:func:`one2many_entries`), its losses scaled by the head's ``one2many_weight``.
"""
from typing import Dict, Mapping

from torch import Tensor

#: the name prefix of the entries that are losses
LOSS_PREFIX = 'loss'
#: the name suffix of the MAH's entries
ONE2MANY_SUFFIX = '_o2m'
#: the statistics a head logs: name -> meaning
STATISTICS: Dict[str, str] = {
    'num_pos': 'positives per image',
    'num_widened': 'people the one-to-one matching placed outside their candidate cells',
    'o2o_in_o2m': "share of the SAH's positives that are MAH positives of the same person",
}
#: statistics of the SAH only: the MAH's top-k matching never widens, and the overlap
#: is one number for both heads
ONE2ONE_ONLY = frozenset({'num_widened', 'o2o_in_o2m'})


def is_loss(key: str) -> bool:
    """Whether the loss-dict entry ``key`` is a loss (summed into the objective)."""
    return key.startswith(LOSS_PREFIX)


def total_loss(losses: Mapping[str, Tensor]) -> Tensor:
    """The training objective: the sum of the loss entries of ``losses``, in dict order."""
    return sum(v for k, v in losses.items() if is_loss(k))


def one2many_entries(losses: Mapping[str, Tensor], weight: float) -> Dict[str, Tensor]:
    """A MAH loss dict as logged beside the SAH's: names with :data:`ONE2MANY_SUFFIX`,
    losses times ``weight``, statistics unscaled, SAH-only statistics dropped."""
    return {f'{k}{ONE2MANY_SUFFIX}': v * weight if is_loss(k) else v
            for k, v in losses.items() if k not in ONE2ONE_ONLY}
