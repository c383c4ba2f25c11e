"""What a hot reload changes: the difference between two validated configs, matched by id.

Sources are matched by `id`, stages and sinks by their `id` (default: their type). An entry whose
settings are equal is untouched (same object, same state, same open files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config import PipelineConfig


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


@dataclass
class ListDiff:
    """Ids added, removed and changed between two lists of configs (in the new list's order)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    order_changed: bool = False

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.order_changed)


def diff_lists(old: list[Any], new: list[Any]) -> ListDiff:
    old_by_id = {item.id: item for item in old}
    new_ids = [item.id for item in new]
    result = ListDiff(removed=[i for i in old_by_id if i not in new_ids])
    for item in new:
        before = old_by_id.get(item.id)
        if before is None:
            result.added.append(item.id)
        elif _dump(before) != _dump(item):
            result.changed.append(item.id)
    kept_old = [i for i in old_by_id if i in new_ids]
    result.order_changed = kept_old != [i for i in new_ids if i in old_by_id]
    return result


@dataclass
class ReloadPlan:
    """Everything `Pipeline.apply` must do to go from `old` to `new`."""

    sources: ListDiff
    stages: ListDiff
    sinks: ListDiff
    runner: list[str]  # runner keys that changed (applied in place)
    metrics: bool  # the metrics endpoint changed (restarted)

    @property
    def empty(self) -> bool:
        return not (self.sources or self.stages or self.sinks or self.runner or self.metrics)

    def report(self, stages_reconfigured: list[str], sinks_reconfigured: list[str]) -> dict[str, Any]:
        """What changed, JSON-ready (empty groups left out), given the stages and sinks that took
        their change in place (the other changed ones were rebuilt or reopened)."""
        groups = {
            "sources": {"added": self.sources.added, "removed": self.sources.removed,
                        "restarted": self.sources.changed},
            "stages": {"added": self.stages.added, "removed": self.stages.removed,
                       "reconfigured": stages_reconfigured,
                       "rebuilt": [i for i in self.stages.changed if i not in stages_reconfigured],
                       **({"reordered": True} if self.stages.order_changed else {})},
            "sinks": {"added": self.sinks.added, "removed": self.sinks.removed, "reconfigured": sinks_reconfigured,
                      "reopened": [i for i in self.sinks.changed if i not in sinks_reconfigured]},
            "runner": self.runner,
            "metrics": self.metrics,
        }
        out: dict[str, Any] = {}
        for key, value in groups.items():
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if v}
            if value:
                out[key] = value
        return out


def plan_reload(old: PipelineConfig, new: PipelineConfig) -> ReloadPlan:
    """Compare two configs. A changed `output_dir` changes every sink (they write under it)."""
    sinks = diff_lists(old.sinks, new.sinks)
    if old.output_dir != new.output_dir:
        kept = [s.id for s in new.sinks if s.id not in sinks.added and s.id not in sinks.changed]
        sinks.changed.extend(kept)
    runner_old, runner_new = _dump(old.runner), _dump(new.runner)
    return ReloadPlan(
        sources=diff_lists(old.sources, new.sources),
        stages=diff_lists(old.stages, new.stages),
        sinks=sinks,
        runner=[k for k in runner_new if runner_new[k] != runner_old.get(k)],
        metrics=(_dump(old.metrics) if old.metrics else None) != (_dump(new.metrics) if new.metrics else None),
    )
