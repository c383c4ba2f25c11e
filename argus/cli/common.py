"""Small helpers the verbs share: printing a result dict, checking a MOT data folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import ArgusError


def table(result: dict[str, Any], prefix: str = "") -> str:
    """One `key: value` line per scalar, nested dicts as dotted keys; lists are left to --json."""
    lines: list[str] = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.extend(line for line in [table(value, f"{prefix}{key}.")] if line)
        elif not isinstance(value, list):
            lines.append(f"{prefix + str(key):>18}: {value}")
    return "\n".join(lines)


def print_result(result: dict[str, Any], as_json: bool) -> None:
    """JSON with --json; else the result's own `table` text when it has one, else `table(result)`."""
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(result["table"] if isinstance(result.get("table"), str) else table(result))


def mot_data_dir(path: Path | None) -> Path:
    """`path` when it is a folder, else a one-line error naming the layout expected (bad input: exit 2)."""
    if path is None or not path.is_dir():
        error = ArgusError(f"MOT data folder not found: {path} (expected <SEQ>/det/det.txt under it)")
        error.exit_code = 2
        raise error
    return path
