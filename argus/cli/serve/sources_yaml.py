"""Adding or removing one entry of `sources:` in the user's YAML text, keeping the rest as written.

The sources form edits the text (not the resolved config), so comments and `${env:...}` references
survive, and the change is applied and recorded like any editor change. A block-style list gets one
line added (`- {id: ..., uri: ...}`) or the entry's lines removed; any other layout is rewritten
with `yaml.safe_dump` (comments lost, references kept). Either way the result is checked by parsing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from argus.cli.serve.safety import InputError

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def load_mapping(text: str, doing: str = "changing sources") -> dict[str, Any]:
    """The editor's text as a mapping; a 409 InputError when it does not parse (saying what waits: `doing`)
    or is no mapping."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError:
        raise InputError(409, f"fix the YAML errors in the editor before {doing}") from None
    if not isinstance(data, dict):
        raise InputError(409, "the config is not a mapping: fix it in the editor first")
    return data


def _sources_node(text: str) -> yaml.SequenceNode | None:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if getattr(key, "value", None) == "sources" and isinstance(value, yaml.SequenceNode) \
                and not value.flow_style and value.value:
            return value
    return None


def _scalar(value: Any) -> str:
    """A plain YAML scalar when it reads back as the same value, else JSON (valid YAML)."""
    if isinstance(value, str) and _PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)


def _flow(entry: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in entry.items()) + "}"


def add_source_text(text: str, entry: dict[str, Any]) -> str:
    """`text` with `entry` appended to `sources:` (the default demo source list when absent)."""
    data = load_mapping(text)
    sources = data.get("sources")
    if sources is not None and not isinstance(sources, list):
        raise InputError(409, "'sources' is not a list: fix it in the editor first")
    expected = {**data, "sources": [*(sources or []), entry]}
    node = _sources_node(text) if sources else None
    if node is not None:
        last = node.value[-1]
        lines = text.splitlines(keepends=True)
        end = last.end_mark.line + (1 if last.end_mark.column > 0 else 0)
        while end > 0 and not lines[end - 1].strip():
            end -= 1
        indent = " " * max(0, last.start_mark.column - 2)
        if lines and not lines[end - 1].endswith("\n"):
            lines[end - 1] += "\n"
        lines.insert(end, f"{indent}- {_flow(entry)}\n")
        candidate = "".join(lines)
        if _same(candidate, expected):
            return candidate
    return yaml.safe_dump(expected, sort_keys=False)


def remove_source_text(text: str, source_id: str) -> str:
    """`text` without the source `source_id` (InputError 409 when it is the only one)."""
    data = load_mapping(text)
    sources = data.get("sources") or []
    kept = [s for s in sources if not (isinstance(s, dict) and s.get("id") == source_id)]
    if not kept:
        raise InputError(409, f"'{source_id}' is the only source: a pipeline needs at least one")
    expected = {**data, "sources": kept}
    node = _sources_node(text)
    if node is not None:
        for item in node.value:
            item_data = yaml.safe_load(yaml.serialize(item)) if item else None
            if isinstance(item_data, dict) and item_data.get("id") == source_id:
                lines = text.splitlines(keepends=True)
                # a block entry ends where the next one starts (column > 0), a flow one at its '}'
                for end in (item.end_mark.line, item.end_mark.line + 1):
                    candidate = "".join(lines[:item.start_mark.line] + lines[end:])
                    if end > item.start_mark.line and _same(candidate, expected):
                        return candidate
    return yaml.safe_dump(expected, sort_keys=False)


def _same(candidate: str, expected: dict[str, Any]) -> bool:
    try:
        return yaml.safe_load(candidate) == expected
    except yaml.YAMLError:
        return False
