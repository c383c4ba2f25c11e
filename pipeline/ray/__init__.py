"""Run one Argus config over a Ray cluster: stateful actors own groups of streams, the driver merges.

Nothing here imports `ray` at import time (the config model imports `pipeline.ray.settings`);
`RayPipeline` and `require_ray` load it when a run asks for it.
"""

from __future__ import annotations

INSTALL_HINT = "pip install 'argus-pipeline[ray]'"

__all__ = ["INSTALL_HINT"]
