from .synthetic import generate_synthetic_coco, write_demo_image
from .checked_dataset import CheckedCocoDataset, CheckedCrowdPoseDataset  # noqa: F401  (registers)

__all__ = ['generate_synthetic_coco', 'write_demo_image']
