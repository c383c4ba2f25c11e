"""YAML loading that remembers the line of every key, so config errors can say `FILE:LINE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that records the 1-based line of each mapping key and sequence item."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[Loc, int] = {}

    def construct_tracked(self, node: yaml.Node, loc: Loc = ()) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                self.lines[(*loc, key)] = key_node.start_mark.line + 1
                out[key] = self.construct_tracked(value_node, (*loc, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.construct_tracked(item, (*loc, i)) for i, item in enumerate(node.value)]
        return self.construct_object(node, deep=True)


def load_yaml_with_lines(text: str, name: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text; returns (data, {key path: line}). Syntax errors become `name:LINE: ...`."""
    from pipeline.errors import ConfigError

    loader = LineLoader(text)
    try:
        node = loader.get_single_node()
        data = {} if node is None else loader.construct_tracked(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{name}:{line}: invalid YAML: {problem}"]) from None
    finally:
        loader.dispose()
    return data, loader.lines


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """Line of the longest prefix of `loc` that the file contains."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def read_config_text(path: Path) -> str:
    """Read a config file, turning OS errors into a ConfigError that names it."""
    from pipeline.errors import ConfigError

    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from None
