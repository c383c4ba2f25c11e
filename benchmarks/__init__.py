"""Benchmarks against peers, run through `python run.py bench ...`."""
