"""`check`'s view of detection sets: what each set carries after each stage, and what is missing.

Stages declare what they read (`input_set`), what the rows must carry (`needs`) and what they write
(`provides`); this walks the stages in order and names the first stage whose needs no earlier stage
meets, with the stage that wrote the set. Nothing here knows a stage type by name. Before any stage
declares a set, rows come from elsewhere (a plugin source or stage that declares nothing, a test feeding
detections), so needs are only checked against declared sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.stage import StageConfig


@dataclass
class _Set:
    writer: str  # "stages.0 (detect)"
    carries: set[str] = field(default_factory=set)


def _label(i: int, stage: StageConfig) -> str:
    name = stage.id or getattr(stage, "type", "?")
    return f"stages.{i} ({name})"


def capability_problem(stages: Sequence[StageConfig]) -> str | None:
    """The first stage that reads a set no earlier stage writes, or needs what its set does not carry;
    None when every stage is satisfied."""
    sets: dict[str, _Set] = {}
    for i, stage in enumerate(stages):
        reads, needs = stage.input_set(), stage.needs()
        if reads is not None and reads not in sets:
            written = ", ".join(sets) or "none"
            return f"{_label(i, stage)}: input: no stage before it writes the set '{reads}' (sets written: {written})"
        looked_at = [reads] if reads is not None else list(sets)
        for name in looked_at:
            missing = sorted(needs - sets[name].carries)
            if missing:
                return (f"{_label(i, stage)} needs {', '.join(missing)} on the set '{name}', which "
                        f"{sets[name].writer} writes without them (add a stage that provides them before it)")
        writes, adds = stage.provides()
        if writes is not None:
            sets[writes] = _Set(_label(i, stage), set(adds))
        else:
            for name in looked_at:
                sets[name].carries |= adds
    return None
