"""The table from a config `type:` to its config model and implementation, filled by plugins.

The core never imports a stage, sink or source: packages register them here. The built-in ones
come from the `argus.plugins` entry point group (declared in pyproject.toml, pointing at
`stages.plugin:register`), so `from pipeline import Pipeline` in a notebook finds them, and a
third-party package can add its own stages the same way without touching Argus.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import ArgusError

if TYPE_CHECKING:
    from pipeline.config import SourceConfig
    from pipeline.sink import Sink
    from pipeline.source import Source
    from pipeline.stage import Stage, StageConfig

ENTRY_POINT_GROUP = "argus.plugins"


@dataclass(frozen=True)
class Plugin:
    """One `type:` of stage or sink: its config model and the factory that builds it."""

    config: type[StageConfig]
    factory: Callable[..., Any]


@dataclass
class Registry:
    """Every stage, sink and source kind a config may name."""

    stages: dict[str, Plugin] = field(default_factory=dict)
    sinks: dict[str, Plugin] = field(default_factory=dict)
    source_factory: Callable[[SourceConfig], Source] | None = None
    default_stages: list[str] = field(default_factory=list)
    default_sinks: list[str] = field(default_factory=list)
    generation: int = 0  # bumped by every registration (config models are cached per generation)

    def add_stage(self, type_: str, config: type[StageConfig], factory: Callable[[Any], Stage]) -> None:
        """Register a stage `type:`; `factory(config)` builds it (may load models: slow is fine)."""
        self.stages[type_] = Plugin(config, factory)
        self.generation += 1

    def add_sink(self, type_: str, config: type[StageConfig], factory: Callable[[Any, Path], Sink]) -> None:
        """Register a sink `type:`; `factory(config, output_dir)` opens it."""
        self.sinks[type_] = Plugin(config, factory)
        self.generation += 1

    def stage_configs(self) -> dict[str, type[StageConfig]]:
        return {name: plugin.config for name, plugin in self.stages.items()}

    def sink_configs(self) -> dict[str, type[StageConfig]]:
        return {name: plugin.config for name, plugin in self.sinks.items()}

    def build_stage(self, config: StageConfig) -> Stage:
        return self.stages[config.type].factory(config)  # type: ignore[attr-defined]

    def build_sink(self, config: StageConfig, output_dir: Path) -> Sink:
        return self.sinks[config.type].factory(config, output_dir)  # type: ignore[attr-defined]

    def make_source(self, config: SourceConfig) -> Source:
        if self.source_factory is None:
            raise ArgusError("no source factory registered (is the argus-pipeline package installed?)")
        return self.source_factory(config)


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
