from .synthetic import generate_synthetic_coco

__all__ = ['generate_synthetic_coco']
