"""Offline tooling, never run inside a pipeline: tune, simulate, train and evaluate trackers, action models
and face galleries, and build model artefacts ahead of a run.

Layering: `tools` may import `stages`, `engines` and `pipeline`; none of those imports `tools`.
"""
