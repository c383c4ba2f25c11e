"""Argus core: data types, config, and the `Pipeline` that runs stages over sources into sinks.

Nothing here imports `stages/` or `engines/`: stages, sinks and sources register themselves
through the `argus.plugins` entry point (see `pipeline.registry`).
"""

from pipeline.pipeline import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Pipeline

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "Pipeline"]
