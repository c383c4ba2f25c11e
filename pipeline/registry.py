"""The tables plugins fill: stage and sink `type:`s, source `kind:`s and event types.

The core never imports a stage, sink or source: packages register them here. The built-in ones
come from the `argus.plugins` entry point group (declared in pyproject.toml, pointing at
`stages.plugin:register`), so `from pipeline import Pipeline` in a notebook finds them, and a
third-party package can add its own stages, sinks, sources and event types the same way without
touching Argus. The core itself registers only its lifecycle event types (`CORE_EVENT_TYPES`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import ArgusError
from pipeline.event_types import CORE_EVENT_TYPES, EventTypeSpec

if TYPE_CHECKING:
    from pipeline.sink import Sink
    from pipeline.source import Source
    from pipeline.source_config import SourceConfig
    from pipeline.stage import Stage, StageConfig

ENTRY_POINT_GROUP = "argus.plugins"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class Plugin:
    """One `type:` of stage or sink: its config model and the factory that builds it."""

    config: type[StageConfig]
    factory: Callable[..., Any]


@dataclass(frozen=True)
class SourceKind:
    """One source `kind:`: its config model, its factory, and the URIs it reads without a `kind:`.

    Attributes:
        schemes: URI schemes (lower case, without `://`) that mean this kind, e.g. ("rtsp", "rtsps").
        matches: a test on any other URI (a glob, a folder, a webcam index); tried in registration order.
    """

    config: type[SourceConfig]
    factory: Callable[[Any], Source]
    schemes: tuple[str, ...] = ()
    matches: Callable[[str], bool] | None = None


@dataclass
class Registry:
    """Every stage, sink and source kind a config may name, and every event type."""

    stages: dict[str, Plugin] = field(default_factory=dict)
    sinks: dict[str, Plugin] = field(default_factory=dict)
    sources: dict[str, SourceKind] = field(default_factory=dict)
    event_types: dict[str, EventTypeSpec] = field(default_factory=lambda: dict(CORE_EVENT_TYPES))
    # wraps building every source when set (Ray's resuming sources); None: the kind's own factory
    source_factory: Callable[[SourceConfig], Source] | None = None
    default_stages: list[str | dict[str, Any]] = field(default_factory=list)  # a type, or a type's settings
    default_sinks: list[str] = field(default_factory=list)
    default_source_kind: str | None = None  # the kind of a URI that no scheme or test claims
    generation: int = 0  # bumped by every registration (config models are cached per generation)

    def add_stage(self, type_: str, config: type[StageConfig], factory: Callable[[Any], Stage]) -> None:
        """Register a stage `type:`; `factory(config)` builds it (may load models: slow is fine)."""
        self.stages[type_] = Plugin(config, factory)
        self.generation += 1

    def add_sink(self, type_: str, config: type[StageConfig], factory: Callable[[Any, Path], Sink]) -> None:
        """Register a sink `type:`; `factory(config, output_dir)` opens it."""
        self.sinks[type_] = Plugin(config, factory)
        self.generation += 1

    def add_source(self, kind: str, config: type[SourceConfig], factory: Callable[[Any], Source], *,
                   schemes: tuple[str, ...] = (), matches: Callable[[str], bool] | None = None) -> None:
        """Register a source `kind:`; `factory(config)` makes its reader (nothing opened yet).

        `config` subclasses `SourceConfig` and declares `kind: Literal[kind] = kind`; `schemes` and
        `matches` say which URIs mean this kind when a config gives no `kind:`.
        """
        if config.model_fields["kind"].default != kind:
            raise ArgusError(f"source kind '{kind}': its config model {config.__name__} must declare "
                             f"kind: Literal['{kind}'] = '{kind}'")
        for scheme in schemes:
            owner = self.kind_of_scheme(scheme)
            if owner is not None and owner != kind:
                raise ArgusError(f"source kind '{kind}': scheme '{scheme}://' is already read by kind '{owner}'")
        self.sources[kind] = SourceKind(config, factory, tuple(s.lower() for s in schemes), matches)
        self.generation += 1

    def add_event_type(self, name: str, fields: Mapping[str, str] | None = None, description: str = "", *,
                       origin: str = "plugin") -> None:
        """Register an event type: its name, payload fields (key -> meaning), when it is emitted and
        who adds it (e.g. the plugin's package name).

        Registering the same type again with the same fields is a no-op; a clash is an ArgusError.
        """
        spec = EventTypeSpec(name, fields or {}, description, origin)
        known = self.event_types.get(name)
        if known is not None:
            if known.origin == "core" or dict(known.fields) != dict(spec.fields):
                raise ArgusError(f"event type '{name}' is already registered by {known.origin}")
            return
        self.event_types[name] = spec
        self.generation += 1

    def copy(self) -> Registry:
        """A registry with the same entries, to which more can be added without changing this one."""
        return Registry(stages=dict(self.stages), sinks=dict(self.sinks), sources=dict(self.sources),
                        event_types=dict(self.event_types), source_factory=self.source_factory,
                        default_stages=list(self.default_stages), default_sinks=list(self.default_sinks),
                        default_source_kind=self.default_source_kind)

    def stage_configs(self) -> dict[str, type[StageConfig]]:
        return {name: plugin.config for name, plugin in self.stages.items()}

    def sink_configs(self) -> dict[str, type[StageConfig]]:
        return {name: plugin.config for name, plugin in self.sinks.items()}

    def build_stage(self, config: StageConfig) -> Stage:
        return self.stages[config.type].factory(config)  # type: ignore[attr-defined]

    def build_sink(self, config: StageConfig, output_dir: Path) -> Sink:
        return self.sinks[config.type].factory(config, output_dir)  # type: ignore[attr-defined]

    def source_configs(self) -> dict[str, type[SourceConfig]]:
        return {kind: entry.config for kind, entry in self.sources.items()}

    def kind_of_scheme(self, scheme: str) -> str | None:
        """The kind that reads `scheme://` URIs, if one registered it."""
        scheme = scheme.lower()
        return next((kind for kind, entry in self.sources.items() if scheme in entry.schemes), None)

    def source_kind_for(self, uri: str) -> str | None:
        """The kind `uri` means without a `kind:`: by its scheme, then by the kinds' tests in
        registration order, else `default_source_kind`."""
        scheme = _SCHEME.match(uri)
        kind = self.kind_of_scheme(scheme[1]) if scheme else None
        if kind is None:
            kind = next((k for k, e in self.sources.items() if e.matches is not None and e.matches(uri)), None)
        return kind or self.default_source_kind

    def make_source(self, config: SourceConfig) -> Source:
        """The reader of one source (a generic `SourceConfig` is first validated as its kind's model)."""
        from pipeline.source_config import resolve_source

        if not self.sources:
            raise ArgusError("no source kinds registered (is the argus-pipeline package installed?)")
        config = resolve_source(config, self)
        if self.source_factory is not None:
            return self.source_factory(config)
        return self.sources[config.kind].factory(config)


_default: Registry | None = None
_lock = threading.Lock()


def default_registry() -> Registry:
    """The registry filled by every installed `argus.plugins` entry point (loaded once)."""
    global _default
    with _lock:
        if _default is None:
            registry = Registry()
            found = entry_points(group=ENTRY_POINT_GROUP)
            for entry in sorted(found, key=lambda e: (e.name != "builtin", e.name)):
                entry.load()(registry)
            if not registry.stages:
                raise ArgusError(f"no Argus plugins found in the '{ENTRY_POINT_GROUP}' entry points: install "
                                 "the package (pip install -e .) so the built-in stages register themselves")
            _default = registry
        return _default
