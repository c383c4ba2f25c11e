"""Config problems as JSON for the editor, and the redaction of resolved `${env:...}` values.

`run.py check` prints `NAME:LINE: key.path: message`; the editor wants `{"line", "key", "message"}`
so it can underline the right line. The messages stay exactly those of `check`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pipeline.secrets import mask_secrets

EDITOR_NAME = "config"  # how errors name the editor's text: "config:12: stages.0.score_min: ..."
_LINE = re.compile(r"^(?:[^:\s]*?)(?::(?P<line>\d+))?: (?P<key>\(top level\)|[^\s:]+): (?P<message>.*)$")
_ENV_REF = re.compile(r"\$\{\s*env:([A-Za-z_][A-Za-z0-9_]*)\s*\}")


def parse_error_line(line: str) -> dict[str, Any]:
    """One `NAME:LINE: key: message` line -> {"line": int | None, "key": str, "message": str}."""
    match = _LINE.match(line)
    if match is None:
        head, _, rest = line.partition(": ")
        number = head.rsplit(":", 1)[-1]
        return {"line": int(number) if number.isdigit() else None, "key": "", "message": rest or line}
    number = match["line"]
    return {"line": int(number) if number and int(number) > 0 else None, "key": match["key"],
            "message": match["message"]}


class Redactor:
    """Removes the values of the environment variables a config refers to from outgoing text.

    Responses carry the user's YAML, never the interpolated config; this is the second fence for
    text built from the interpolated config (validation messages, stats, events)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def learn(self, yaml_text: str) -> None:
        """Remember the variables `yaml_text` interpolates."""
        self.names.update(_ENV_REF.findall(yaml_text))

    def __call__(self, text: str) -> str:
        text = mask_secrets(text)
        for name in self.names:
            value = os.environ.get(name)
            if value and len(value) >= 3:
                text = text.replace(value, "***")
        return text

    def deep(self, value: Any) -> Any:
        """The same redaction applied to every string of a JSON-ready value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        return value


def error_entries(lines: list[str], redact: Redactor) -> list[dict[str, Any]]:
    """ConfigError lines -> the editor's error objects, redacted."""
    return [parse_error_line(redact(line)) for line in lines]
