"""The one interface every inference backend implements: named tensors in, named tensors out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Name, shape (-1 for a dynamic axis) and numpy dtype name of one model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def describe(self) -> str:
        dims = ",".join("?" if d < 0 else str(d) for d in self.shape)
        return f"{self.name}[{dims}] {self.dtype}"


@runtime_checkable
class Engine(Protocol):
    """A loaded model on one backend. Pre- and post-processing live in model adapters, not here."""

    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    metadata: Mapping[str, str]

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncEngine(Engine, Protocol):
    """An engine that can also start a batch and return before it finishes (OpenVINO), so the caller
    prepares the next batch or decodes the previous one meanwhile. `result(submit(feeds))` equals
    `engine(feeds)`; each handle's result is taken exactly once, in any order."""

    def submit(self, feeds: Mapping[str, np.ndarray]) -> Any: ...

    def result(self, handle: Any) -> dict[str, np.ndarray]: ...
