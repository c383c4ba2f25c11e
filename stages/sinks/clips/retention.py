"""Which clips retention deletes: closed clips only, oldest first, past `days` or `max_gb`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from stages.sinks.clips.index import Row


def started_s(row: Row) -> float:
    """A row's `wall_time` as Unix seconds (0 when missing or malformed: such a clip goes first)."""
    try:
        return datetime.fromisoformat(str(row["wall_time"])).timestamp()
    except (KeyError, ValueError):
        return 0.0


def expired(rows: Iterable[Row], now_s: float, days: float | None, max_bytes: float | None) -> list[str]:
    """Ids of the clips to delete, oldest first: closed clips older than `days`, then more closed clips,
    oldest first, while all clips (open ones included) hold more than `max_bytes`."""
    rows = list(rows)
    closed = sorted((r for r in rows if r.get("state") == "closed"), key=started_s)
    doomed: list[Row] = []
    if days is not None:
        doomed = [r for r in closed if started_s(r) < now_s - days * 86_400]
    if max_bytes is not None:
        total = sum(int(r.get("bytes") or 0) for r in rows) - sum(int(r.get("bytes") or 0) for r in doomed)
        for row in closed:
            if total <= max_bytes:
                break
            if row not in doomed:
                doomed.append(row)
                total -= int(row.get("bytes") or 0)
    return [r["id"] for r in doomed]
