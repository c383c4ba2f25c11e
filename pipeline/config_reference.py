"""The config reference in Markdown, generated from the pydantic models (`run.py schema --markdown`),
with every registered event type; and the JSON Schema that `run.py schema` prints.

The docs site's configuration page gets the Markdown at build time (argus/tools/docs_hooks.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from pipeline.config import RunnerConfig, SourceConfig, config_model
from pipeline.event_types import EventTypeSpec
from pipeline.ray.settings import RaySettings
from pipeline.registry import Registry, default_registry


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
    lines = (_table("Top level", config_model(registry)) + _table("`sources[]` (every kind)", SourceConfig)
             + _source_tables(registry) + _table("`runner`", RunnerConfig) + _table("`runner.ray`", RaySettings))
    seen: set[type[BaseModel]] = set()
    for model in stage_configs.values():
        if model not in seen:
            seen.add(model)
            aliases = [k for k, m in stage_configs.items() if m is model]
            lines += _table("stage `type: " + " | ".join(aliases) + "`", model, ("type",))
    for kind, model in sink_configs.items():
        lines += _table(f"sink `type: {kind}`", model, ("type",))
    lines += _event_table(registry.event_types.values())
    return "\n".join(lines).rstrip() + "\n"


def _source_tables(registry: Registry) -> list[str]:
    """One table per source kind: how a URI picks it, then the keys it adds to every kind's."""
    lines: list[str] = []
    common = tuple(SourceConfig.model_fields)
    for kind, entry in registry.sources.items():
        picked = [f"`{scheme}://`" for scheme in entry.schemes]
        if kind == registry.default_source_kind:
            picked.append("any URI no other kind claims")
        how = f" ({', '.join(picked)})" if picked else ""
        doc = " ".join((entry.config.__doc__ or "").split())
        title = f"**source `kind: {kind}`**{how}: {doc}"
        if any(name not in common for name in entry.config.model_fields):
            lines += [title, *_table("", entry.config, common)[1:]]
        else:
            lines += [f"{title} No keys of its own.", ""]
    return lines


def _event_table(specs: Iterable[EventTypeSpec]) -> list[str]:
    """Every registered event type with its payload fields."""
    lines = ["**Event types** (`type` of an event; every event also has `id`, `source`, `wall_time` and, "
             "when tied to a frame or track, `pts_s`, `frame_index`, `track_id`)", "",
             "| type | from | when | payload fields |", "|---|---|---|---|"]
    for spec in specs:
        fields = "; ".join(f"`{key}`: {meaning}" for key, meaning in spec.fields.items()) or "none"
        lines.append(f"| `{spec.name}` | {spec.origin} | {_cell(spec.description)} | {_cell(fields)} |")
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_schema_with_events(registry: Registry | None = None) -> dict[str, Any]:
    """The config's JSON Schema (`run.py schema`), with every registered event type under
    `x-argus-event-types` (name -> description, payload fields, origin)."""
    registry = registry or default_registry()
    schema = config_model(registry).model_json_schema()
    schema["x-argus-event-types"] = {name: spec.to_json() for name, spec in registry.event_types.items()}
    return schema

