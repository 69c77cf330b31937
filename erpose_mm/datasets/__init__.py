"""Datasets of erpose-mm: the synthetic COCO generator (:mod:`.synthetic`, numpy and OpenCV
only) and the checked MMPose datasets (:mod:`.checked_dataset`, registered by
``import erpose_mm``; imported here on first use, so that the generator imports without
MMPose)."""
from .synthetic import generate_synthetic_coco, write_demo_image

__all__ = ['generate_synthetic_coco', 'write_demo_image']

_CHECKED = ('CheckedCocoDataset', 'CheckedCrowdPoseDataset')


def __getattr__(name):
    if name in _CHECKED:
        from . import checked_dataset
        return getattr(checked_dataset, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
