"""Benchmarks: ``python -m bench NAME`` prints JSON lines with a baseline from the same run."""
