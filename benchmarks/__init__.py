"""Benchmark scripts of erpose-mm (not part of the installed package)."""
