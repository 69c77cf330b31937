"""Pieces of the two speed benchmarks, ``benchmarks/latency.py`` (``latency_*``) and
``benchmarks/train_speed.py`` (``train_step_*``, ``train_speed_report``)."""
