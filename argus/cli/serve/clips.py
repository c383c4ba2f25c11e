"""The clips that `clips` sinks wrote, as the web app sees them: folders, index rows, files.

A clips sink keeps `<output_dir>/<dir>/clips.jsonl` (one JSON row per line, the last row of an id
wins; `path` and `thumbnail` relative to the index), read and changed here only through the sink's
own `read_index` and `delete_clip`. The folders are those of the `clips` sinks in the running
pipeline's config (or, while it waits stopped, in the applied YAML). A clip's files are looked up
through its index row and must resolve inside its folder: an id never becomes a path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from argus.cli.serve.safety import InputError
from stages.sinks.clips import ClipBusyError, delete_clip, read_index

CLIP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")


@dataclass(frozen=True)
class Clip:
    """One clip's latest index row and the folder of its index."""

    row: dict[str, Any]
    folder: Path

    def file(self, key: str) -> Path:
        """The row's `key` path ("path", "thumbnail") resolved inside the folder; InputError(404) otherwise."""
        value = self.row.get(key)
        if not isinstance(value, str) or not value or os.path.isabs(value):
            raise InputError(404, f"clip '{self.row['id']}' has no {key}")
        root = self.folder.resolve()
        path = (root / value).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise InputError(404, f"clip '{self.row['id']}': {key} not found")
        return path


def clip_dirs(config: Any | None, text: str = "") -> list[Path]:
    """The folders of the `clips` sinks: of the running config's, else of the YAML `text`'s."""
    if config is not None:
        out = Path(str(config.output_dir))
        return _unique([out / str(getattr(s, "dir", "clips")) for s in config.sinks if s.type == "clips"])
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("sinks"), list):
        return []
    out = Path(str(data.get("output_dir", "out")))
    return _unique([out / str(s.get("dir", "clips")) for s in data["sinks"]
                    if isinstance(s, dict) and s.get("type") == "clips"])


def _unique(paths: list[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """The latest row of each clip in `folder`'s index (the sink's reader: deleted clips and torn lines
    left out)."""
    try:
        return [dict(row) for row in read_index(folder)]
    except (OSError, UnicodeDecodeError):
        return []


def find_clip(folders: list[Path], clip_id: str) -> Clip:
    """The clip with this id in any folder; InputError(404) for an unknown or malformed id."""
    if CLIP_ID.fullmatch(clip_id):
        for folder in folders:
            for row in read_rows(folder):
                if row["id"] == clip_id:
                    return Clip(row, folder)
    raise InputError(404, f"no clip '{clip_id}'")


def delete(clip: Clip) -> None:
    """Delete a clip's files and mark it deleted in its index (the sink's `delete_clip`); 409 while a
    running sink writes it, 422 when its row names a file outside its folder (nothing is touched)."""
    root = clip.folder.resolve()
    for key in ("path", "thumbnail"):
        value = clip.row.get(key)
        if value and not (root / str(value)).resolve().is_relative_to(root):
            raise InputError(422, f"clip '{clip.row['id']}': its {key} is outside {clip.folder}; not deleted")
    try:
        found = delete_clip(clip.folder, clip.row["id"])
    except ClipBusyError as exc:
        raise InputError(409, str(exc)) from None
    except OSError as exc:
        raise InputError(500, f"cannot delete clip '{clip.row['id']}': {exc}") from None
    if not found:
        raise InputError(404, f"no clip '{clip.row['id']}'")


def epoch(value: Any) -> float | None:
    """Seconds since the epoch from a number, a numeric string or an ISO 8601 time (naive: local)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def trigger_types(row: dict[str, Any]) -> set[str]:
    """The event types that triggered a clip (`trigger`: a type, {event|type: ...}, or a list of them)."""
    trigger = row.get("trigger")
    items = trigger if isinstance(trigger, list) else [trigger]
    out = set()
    for item in items:
        if isinstance(item, str):
            out.add(item)
        elif isinstance(item, dict):
            out.update(str(item[k]) for k in ("event", "type") if isinstance(item.get(k), str))
    return out


def select(rows: list[dict[str, Any]], source: str | None = None, event: str | None = None,
           since: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
    """The rows that match every filter given, newest first."""
    bounds = []
    for name, value in (("since", since), ("until", until)):
        if value is not None and epoch(value) is None:
            raise InputError(422, f"'{name}' must be epoch seconds or an ISO 8601 time, not {value!r}")
        bounds.append(epoch(value) if value is not None else None)
    low, high = bounds
    out = []
    for row in rows:
        when = epoch(row.get("wall_time"))
        if source is not None and row.get("source") != source:
            continue
        if event is not None and event not in trigger_types(row):
            continue
        if (low is not None or high is not None) and when is None:
            continue
        if (low is not None and when < low) or (high is not None and when > high):
            continue
        out.append(row)
    return sorted(out, key=lambda r: epoch(r.get("wall_time")) or 0.0, reverse=True)
