"""Evaluation helpers (Task Alignment Error lives in erpose_mm.evaluation.tae)."""
from .tae import (ImageTAE, aggregate_tae, greedy_matching, image_tae, oks_matrix,
                  optimal_assignment, tae_ap_correlation)

__all__ = ['ImageTAE', 'aggregate_tae', 'greedy_matching', 'image_tae', 'oks_matrix',
           'optimal_assignment', 'tae_ap_correlation']
