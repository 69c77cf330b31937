"""The learning benchmark (``benchmarks/learning.py``): rows, data, workers, scoring, report.

Modules used by the Ultralytics worker (``yolo_worker``) import only the standard library,
so the peers venv can run them.
"""
