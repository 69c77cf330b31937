"""Evaluation helpers (Task Alignment Error lives in erpose_mm.evaluation.tae)."""
