"""Every benchmark, one module per `python run.py bench VERB` (against peers where there are some).

Layering: `benchmarks` may import `tools`, `stages`, `engines` and `pipeline`, never `cli`.
"""
