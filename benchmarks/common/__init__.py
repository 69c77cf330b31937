"""What every benchmark shares: machine notes, worker processes, result cache, statistics,
the peers (Ultralytics) environment and markdown / plot reports."""
