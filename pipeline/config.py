"""Pipeline configuration: YAML -> pydantic v2 models, with one-line `FILE:LINE: key.path: problem` errors.

The stage and sink types come from a `Registry` (filled by plugins); this module owns the
top-level shape, stage/sink ids, `${env:VAR}` interpolation, `--set` overrides and error formatting.
`PipelineConfig` is the base model; `config_model_for(registry)` derives the one that validates
`stages`/`sinks` against the registered types and each source against its kind's model (and gives
editors a complete JSON Schema). `SourceConfig` (the keys of every source) lives in `source_config`.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from pipeline.capabilities import capability_problem
from pipeline.errors import ConfigError
from pipeline.motion import MOTION_TAGS
from pipeline.ray.settings import RaySettings
from pipeline.secrets import mask_secrets
from pipeline.source_config import (
    UNKNOWN_KIND,
    SourceConfig,
    any_of,
    kind_of_entry,
    source_union,
    strip_kind_tag,
    unknown_kind_message,
)
from pipeline.stage import StageConfig
from pipeline.yaml_lines import Loc, line_of, load_yaml_with_lines, read_config_text

if TYPE_CHECKING:
    from pipeline.registry import Registry

DEMO = {"id": "demo", "uri": "demo"}  # the source of a config without `sources:`


class RunnerConfig(BaseModel):
    """How frames are batched and how the run shuts down."""

    model_config = ConfigDict(extra="forbid")

    max_batch: int = Field(8, ge=1, le=64, description="Most frames (across sources) per model call.")
    max_wait_ms: float = Field(5.0, ge=0, description="Longest wait to fill a batch once a frame is ready.")
    shutdown_timeout_s: float = Field(10.0, ge=0, description="Time allowed to finish queued frames on stop.")
    progress: bool = Field(True, description="Show a progress bar on the terminal.")
    pipelined: bool = Field(True, description="Write sinks (encoding, drawing, JSON) on a thread of their "
                            "own while the next batch runs through the stages; false: one after the other (read at "
                            "start).")
    max_stage_errors: int = Field(50, ge=1, description="End the run (exit 1) after a stage failed on this "
                                  "many consecutive batches; fewer failures are logged, counted and skipped.")
    ray: RaySettings = Field(default_factory=RaySettings, description="Placement over Ray actors when run "
                             "with --ray (ignored otherwise).")


class MetricsConfig(BaseModel):
    """The Prometheus endpoint."""

    model_config = ConfigDict(extra="forbid")

    port: int = Field(9400, ge=1, le=65535, description="Port of the /metrics endpoint.")
    host: str = Field("0.0.0.0", description="Address to listen on.")


class PipelineConfig(BaseModel):
    """A whole pipeline: sources -> stages (in order) -> sinks.

    Validate through `config_model(registry)` (or `load_config`): this base class does not know
    which stage and sink types exist.
    """

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(
        default_factory=lambda: [SourceConfig(**DEMO)], min_length=1,
        description="Input streams; each gets its own reader thread and queue.")
    stages: list[StageConfig] = Field(default_factory=list, description="Processing stages, run in this order.")
    sinks: list[StageConfig] = Field(default_factory=list, description="Outputs; paths are relative to "
                                     "`output_dir`.")
    output_dir: str = Field("out", description="Folder for every sink's output.")
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    metrics: MetricsConfig | None = Field(None, description="Serve Prometheus metrics (e.g. {port: 9400}); "
                                          "off when absent.")

    @field_validator("stages")
    @classmethod
    def _stage_order(cls, stages: list[StageConfig]) -> list[StageConfig]:
        for i, stage in enumerate(stages):
            problem = stage.check_order(stages[:i])
            if problem:
                raise ValueError(f"stages.{i} ({getattr(stage, 'type', '?')}): {problem}")
        problem = capability_problem(stages)
        if problem:
            raise ValueError(problem)
        return stages

    @field_validator("sources")
    @classmethod
    def _unique_ids(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        seen: set[str] = set()
        for source in sources:
            if source.id in seen:
                raise ValueError(f"source id '{source.id}' is used twice")
            seen.add(source.id)
        return sources

    @model_validator(mode="after")
    def _name_entries(self) -> PipelineConfig:
        for key in ("stages", "sinks"):
            assign_ids(getattr(self, key), key)
        return self


def assign_ids(entries: list[StageConfig], key: str) -> None:
    """Give every entry without an `id` its type (numbered from the second of a type); ids are unique."""
    taken = {e.id for e in entries if e.id is not None}
    counts: dict[str, int] = {}
    for entry in entries:
        kind = str(getattr(entry, "type", "stage"))
        counts[kind] = counts.get(kind, 0) + 1
        if entry.id is None:
            candidate, n = kind if counts[kind] == 1 else f"{kind}-{counts[kind]}", counts[kind]
            while candidate in taken:
                n += 1
                candidate = f"{kind}-{n}"
            entry.id = candidate
            taken.add(candidate)
    ids = [e.id for e in entries]
    for entry_id in ids:
        if ids.count(entry_id) > 1:
            raise ValueError(f"{key}: id '{entry_id}' is used twice")


def config_model_for(registry: Registry) -> type[PipelineConfig]:
    """The PipelineConfig subclass whose stages/sinks are the registry's types (a discriminated union)."""

    def union(configs: dict[str, type[StageConfig]]) -> Any:
        models = tuple(dict.fromkeys(configs.values()))  # a model may serve several types (pose/detect)
        if len(models) == 1:
            return list[models[0]]  # type: ignore[valid-type]
        return list[Annotated[Union[models], Field(discriminator="type")]]  # type: ignore[valid-type]  # noqa: UP007

    stage_configs, sink_configs = registry.stage_configs(), registry.sink_configs()

    def default_stages() -> list[Any]:
        return [stage_configs[t]() if isinstance(t, str) else stage_configs[t["type"]](**t)
                for t in registry.default_stages]

    def default_sinks() -> list[Any]:
        return [sink_configs[t]() for t in registry.default_sinks]

    def default_sources() -> list[Any]:
        kind = kind_of_entry(registry, DEMO)
        return [registry.sources[kind].config(**DEMO) if kind in registry.sources else SourceConfig(**DEMO)]

    return create_model(
        "PipelineConfig", __base__=PipelineConfig, __doc__=PipelineConfig.__doc__,
        sources=(list[source_union(registry)], Field(  # type: ignore[misc]
            default_factory=default_sources, min_length=1, json_schema_extra=any_of,
            description="Input streams; each gets its own reader thread and queue.")),
        stages=(union(stage_configs), Field(default_factory=default_stages,
                                            description="Processing stages, run in this order.")),
        sinks=(union(sink_configs), Field(default_factory=default_sinks,
                                          description="Outputs; paths are relative to `output_dir`.")),
    )


_models: dict[int, tuple[Registry, int, type[PipelineConfig]]] = {}


def config_model(registry: Registry | None = None) -> type[PipelineConfig]:
    """The pipeline config model for `registry` (default: the installed plugins'), built once."""
    registry = _registry(registry)
    cached = _models.get(id(registry))
    if cached is None or cached[0] is not registry or cached[1] != registry.generation:
        cached = _models[id(registry)] = (registry, registry.generation, config_model_for(registry))
    return cached[2]


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry
    from pipeline.registry import default_registry

    return default_registry()


_ENV = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")


def interpolate_env(data: Any, loc: Loc = (), errors: list[tuple[Loc, str]] | None = None) -> Any:
    """Replace `${env:VAR}` in every string; other `${...}` forms and unset variables are errors."""
    if errors is None:
        errors = []
    if isinstance(data, dict):
        return {k: interpolate_env(v, (*loc, k), errors) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate_env(v, (*loc, i), errors) for i, v in enumerate(data)]
    if not isinstance(data, str):
        return data

    def substitute(match: re.Match[str]) -> str:
        name = _ENV_NAME.fullmatch(match[1].strip())
        if name is None:
            errors.append((loc, f"unsupported interpolation '${{{match[1]}}}': only ${{env:VAR}} is allowed"))
            return ""
        value = os.environ.get(name[1])
        if value is None:
            errors.append((loc, f"environment variable {name[1]} is not set"))
            return ""
        return value

    return _ENV.sub(substitute, data)


def apply_override(data: dict[str, Any], assignment: str) -> Loc:
    """Apply one `--set a.b.0.c=VALUE` (VALUE parsed as YAML) to `data` in place; returns its key path."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError([f"--set {assignment}: expected KEY=VALUE, e.g. stages.0.score_min=0.4"])
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    loc: Loc = tuple(int(p) if p.lstrip("-").isdigit() else p for p in key.split("."))
    node: Any = data
    for i, part in enumerate(loc[:-1]):
        nxt = loc[i + 1]
        if isinstance(node, list):
            if not isinstance(part, int) or not -len(node) <= part < len(node):
                raise ConfigError([f"--set {key}: {'.'.join(map(str, loc[:i + 1]))}: no such list item"])
            node = node[part]
        else:
            if part not in node or node[part] is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
    last = loc[-1]
    if isinstance(node, list) and (not isinstance(last, int) or not -len(node) <= last < len(node)):
        raise ConfigError([f"--set {key}: no such list item"])
    node[last] = value
    return loc


def _materialise_defaults(data: dict[str, Any], overrides: list[str], model: type[PipelineConfig]) -> None:
    """Fill default lists that an override reaches into (e.g. `stages.0.score_min` with no `stages:`)."""
    defaults = model().model_dump(mode="json", exclude_unset=False, exclude={"stages": {"__all__": {"id"}},
                                                                             "sinks": {"__all__": {"id"}}})
    for assignment in overrides:
        top = assignment.split(".", 1)[0].split("=", 1)[0]
        if top in ("stages", "sinks", "sources") and top not in data and "." in assignment.split("=")[0]:
            data[top] = defaults[top]


def _suggest(model: type[BaseModel] | None, key: str) -> str:
    if model is None:
        return ""
    close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _model_at(loc: Loc, data: Any, registry: Registry) -> type[BaseModel] | None:
    """The config model class that holds the key at `loc` (used to suggest a valid name)."""
    tables = {"stages": registry.stage_configs(), "sinks": registry.sink_configs()}
    if len(loc) == 1:
        return PipelineConfig
    if loc[0] in ("runner", "metrics") and len(loc) == 2:
        return RunnerConfig if loc[0] == "runner" else MetricsConfig
    if len(loc) == 3 and loc[0] in (*tables, "sources") and isinstance(loc[1], int) and isinstance(data, dict):
        items = data.get(str(loc[0]))
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        if loc[0] == "sources":
            kind = kind_of_entry(registry, item)
            return registry.sources[kind].config if kind in registry.sources else SourceConfig
        return tables[str(loc[0])].get(item.get("type")) if isinstance(item, dict) else None
    return None


def _unknown_key(loc: Loc, data: Any, registry: Registry) -> str:
    """Why the key at `loc` is unknown, with the closest valid name, or (a source's) the kinds it belongs to."""
    key = str(loc[-1])
    model = _model_at(loc, data, registry)
    hint = _suggest(model, key)
    if not hint and loc[0] == "sources" and model is not None and model is not SourceConfig:
        owners = [k for k, m in registry.source_configs().items() if key in m.model_fields]
        if owners:
            how = "its `kind:`" if isinstance(data, dict) and _source_item(data, loc).get("kind", "auto") != "auto" \
                else "its uri"
            hint = (f" for a source of kind '{model.model_fields['kind'].default}' (from {how}); "
                    f"'{key}' belongs to kind {', '.join(owners)}")
    return f"unknown key '{key}'{hint}"


def _source_item(data: dict[str, Any], loc: Loc) -> dict[str, Any]:
    items = data.get("sources")
    item = items[loc[1]] if isinstance(items, list) and isinstance(loc[1], int) and loc[1] < len(items) else None
    return item if isinstance(item, dict) else {}


def _format_error(err: dict[str, Any], data: Any, lines: dict[Loc, int], name: str, registry: Registry) -> str:
    loc: Loc = tuple(err["loc"])
    stage_configs, sink_configs = registry.stage_configs(), registry.sink_configs()
    # Drop the discriminator tag pydantic inserts after a list index: ('stages', 0, 'pose', 'x').
    clean: list[str | int] = []
    for i, part in enumerate(loc):
        if i > 0 and isinstance(loc[i - 1], int) and loc[i - 2:i - 1] in (("stages",), ("sinks",)) \
                and part in {**stage_configs, **sink_configs}:
            continue
        clean.append(part)
    if loc[:1] == ("sources",):  # the kind's tag, and a `motion:` value's (flag or settings)
        loc = tuple(p for p in strip_kind_tag(tuple(clean), registry) if p not in MOTION_TAGS)
    else:
        loc = tuple(clean)
    kind = err["type"]
    if kind == "extra_forbidden":
        message = _unknown_key(loc, data, registry)
    elif kind == UNKNOWN_KIND:
        message = unknown_kind_message(registry, err.get("input"))
        loc = (*loc, "kind") if isinstance(err.get("input"), dict) else loc
    elif kind == "union_tag_invalid":
        table = stage_configs if loc and loc[0] == "stages" else sink_configs
        tag = err.get("input", {}).get("type") if isinstance(err.get("input"), dict) else None
        close = difflib.get_close_matches(str(tag), list(table), n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        message = f"unknown type {tag!r}{hint}; valid types: {', '.join(table)}"
        loc = (*loc, "type")
    elif kind == "union_tag_not_found":
        message = "missing 'type'"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = err["msg"].removeprefix("Value error, ")
        if "input" in err and kind not in ("value_error",) and not isinstance(err["input"], dict | list):
            message += f" (got {err['input']!r})"
    line = line_of(lines, loc)
    where = f"{name}:{line}" if line is not None else name
    path = ".".join(str(p) for p in loc) or "(top level)"
    return mask_secrets(f"{where}: {path}: {message}").replace("\n", "\\n")  # always one line


def load_config(path: Path | None = None, overrides: list[str] | None = None,
                text: str | None = None, replace: dict[str, Any] | None = None,
                registry: Registry | None = None, name: str | None = None) -> PipelineConfig:
    """Read, interpolate, override and validate a pipeline config.

    Args:
        path: YAML file; None means the built-in default pipeline (demo source).
        overrides: `KEY=VALUE` strings applied after the file (`--set`).
        text: YAML text to use instead of reading `path` (tests).
        replace: top-level keys replaced before the overrides (CLI `--source`, `--out`).
        registry: the stage/sink types (default: the installed plugins').
        name: how errors name the text (default: the path, else `<default>`).

    Raises:
        ConfigError: with one line per problem, each `FILE:LINE: key.path: what is wrong`.
    """
    overrides = overrides or []
    registry = _registry(registry)
    model = config_model(registry)
    name = name or (str(path) if path is not None else "<default>")
    if text is None:
        text = read_config_text(path) if path is not None else ""
    data, lines = load_yaml_with_lines(text, name)
    if not isinstance(data, dict):
        raise ConfigError([f"{name}:1: (top level): expected a mapping of keys, got {type(data).__name__}"])
    env_errors: list[tuple[Loc, str]] = []
    data = interpolate_env(data, errors=env_errors)
    if env_errors:
        raise ConfigError([f"{name}:{line_of(lines, loc) or 1}: {'.'.join(map(str, loc))}: {msg}"
                           for loc, msg in env_errors])
    for key, value in (replace or {}).items():
        data[key] = value
        lines[(key,)] = 0
    _materialise_defaults(data, overrides, model)
    for assignment in overrides:
        loc = apply_override(data, assignment)
        lines[loc] = 0
    return validate_data(data, lines, name, registry)


def validate_data(data: Any, lines: dict[Loc, int] | None = None, name: str = "<config>",
                  registry: Registry | None = None) -> PipelineConfig:
    """Validate an already-parsed config mapping (the last step of `load_config`).

    Validators find the registry in the validation context (`info.context["registry"]`), e.g. to
    check an event type a sink names.

    Raises:
        ConfigError: one `NAME:LINE: key.path: problem` line per problem (LINE when `lines` knows it).
    """
    registry = _registry(registry)
    lines = lines or {}
    try:
        return config_model(registry).model_validate(data, context={"registry": registry})
    except ValidationError as exc:
        messages = [_format_error(err, data, lines, name, registry) for err in exc.errors()]
        raise ConfigError([m.replace(f"{name}:0:", "command line:") for m in messages]) from None


def coerce_config(value: PipelineConfig | dict[str, Any] | str, registry: Registry | None = None,
                  name: str = "<config>") -> PipelineConfig:
    """A validated config from a config object, a mapping or YAML text (what `Pipeline.apply` takes)."""
    registry = _registry(registry)
    if isinstance(value, PipelineConfig):
        return validate_data(value.model_dump(mode="json", exclude_unset=True), name=name, registry=registry)
    if isinstance(value, str):
        return load_config(text=value, registry=registry, name=name)
    if isinstance(value, dict):
        return validate_data(interpolate_config(value, name), name=name, registry=registry)
    raise TypeError(f"expected a PipelineConfig, a dict or YAML text, got {type(value).__name__}")


def interpolate_config(data: dict[str, Any], name: str) -> dict[str, Any]:
    """`${env:VAR}` filled in a config mapping; unset variables raise ConfigError."""
    errors: list[tuple[Loc, str]] = []
    data = interpolate_env(data, errors=errors)
    if errors:
        raise ConfigError([f"{name}: {'.'.join(map(str, loc))}: {msg}" for loc, msg in errors])
    return data
