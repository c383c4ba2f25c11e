"""What every annotator is: a config model (`type:` plus its settings) and an object that draws."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.types import Detections


class AnnotatorConfig(BaseModel):
    """Base of every annotator's config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    sets: list[str] | None = Field(None, description="Detection sets drawn (e.g. [people]); null: every row.")


@runtime_checkable
class Annotator(Protocol):
    """Draws one kind of mark for every row of a Detections."""

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Draw on `image` (H, W, 3 uint8 BGR) in place and return it."""
        ...
