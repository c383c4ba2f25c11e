"""Limits on what a request may carry before it reaches the config loader (or the pipeline).

- Request bodies: at most `MAX_BODY` bytes, UTF-8, a JSON object.
- YAML: at most `MAX_YAML` characters, nesting at most `MAX_DEPTH`, and at most `MAX_NODES` nodes once
  aliases are expanded (a "billion laughs" document is a few hundred bytes that expands to 10^9
  nodes: the config loader would copy every one of them), no recursive aliases.
Every violation is an `InputError`: an HTTP status and a one-line reason.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

MAX_BODY = 512 * 1024
MAX_YAML = 256 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 64


class InputError(Exception):
    """Hostile or malformed input: `status` and a one-line `reason` for the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def decode_json_body(body: bytes) -> dict[str, Any]:
    """A request body -> a JSON object, or InputError (413 too big, 400 not UTF-8 / not JSON)."""
    if len(body) > MAX_BODY:
        raise InputError(413, f"request body is larger than {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(400, f"request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise InputError(400, f"request body is not JSON: {reason}") from None
    if not isinstance(value, dict):
        raise InputError(422, "request body must be a JSON object")
    return value


def check_yaml_text(text: Any) -> str:
    """The `yaml` field of a request, checked for size and alias expansion (InputError otherwise).

    Syntax errors are left to the config loader, which reports them at their line."""
    if not isinstance(text, str):
        raise InputError(422, "'yaml' must be a string")
    if len(text) > MAX_YAML:
        raise InputError(413, f"config is larger than {MAX_YAML} characters")
    if "\x00" in text:
        raise InputError(400, "config contains a NUL character")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return text  # reported with its line by load_config
    except RecursionError:
        raise InputError(400, f"config is nested more than {MAX_DEPTH} levels deep") from None
    if node is not None:
        _expanded_size(node, {}, set(), 0)
    return text


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int], depth: int) -> int:
    """Nodes in `node` once every alias is expanded; InputError beyond the limits."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise InputError(400, "config has a recursive YAML alias")
    if depth > MAX_DEPTH:
        raise InputError(400, f"config is nested more than {MAX_DEPTH} levels deep")
    active.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children: list[yaml.Node] = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes, active, depth + 1)
        if total > MAX_NODES:
            raise InputError(400, f"config expands to more than {MAX_NODES} YAML nodes (aliases)")
    active.discard(key)
    sizes[key] = total
    return total
