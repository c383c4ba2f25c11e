"""Argus: streaming video analytics. This package holds the command line (`argus.cli`), the benchmarks
(`argus.benchmarks`) and the offline tooling (`argus.tools`); the runtime lives in the top-level packages
`pipeline` (core), `engines` and `stages`.

Kept light on purpose: importing `argus` must not import torch, OpenVINO or the pipeline.
"""

__version__ = "0.3.0"  # the one place the version is set (pyproject.toml reads it; `argus --version` prints it)
