"""The config reference in Markdown, generated from the pydantic models (`run.py schema --markdown`).

The README embeds this text between markers; a test keeps the two the same.
"""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.config import RunnerConfig, SourceConfig, config_model
from pipeline.ray.settings import RaySettings
from pipeline.registry import Registry, default_registry

BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"


def _table(title: str, model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    lines = [f"**{title}**", "", "| key | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            value = field.default_factory()  # type: ignore[call-arg]
            default = "see below" if isinstance(value, BaseModel) or name in ("sources", "stages", "sinks") \
                else repr(value)
        else:
            default = repr(field.get_default())
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | `{default}` | {meaning} |")
    return [*lines, ""]


def config_reference(registry: Registry | None = None) -> str:
    """Every config key with its default and meaning, as Markdown tables."""
    registry = registry or default_registry()
    stage_configs, sink_configs = registry.stage_configs(), registry.sink_configs()
    lines = (_table("Top level", config_model(registry)) + _table("`sources[]`", SourceConfig)
             + _table("`runner`", RunnerConfig) + _table("`runner.ray`", RaySettings))
    seen: set[type[BaseModel]] = set()
    for model in stage_configs.values():
        if model not in seen:
            seen.add(model)
            aliases = [k for k, m in stage_configs.items() if m is model]
            lines += _table("stage `type: " + " | ".join(aliases) + "`", model, ("type",))
    for kind, model in sink_configs.items():
        lines += _table(f"sink `type: {kind}`", model, ("type",))
    return "\n".join(lines).rstrip() + "\n"
