"""The one interface every inference backend implements: named tensors in, named tensors out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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

