"""Benchmarks and evaluation scripts: run as `python -m benchmarks.NAME` from the repo root."""
