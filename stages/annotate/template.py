"""Label templates: literal text with `{column}` / `{column:spec}` fields, checked when the config loads.

A field renders empty on a row whose column is absent, None, blank or NaN, and `track_id` renders
empty on an untracked row (-1); runs of spaces left by empty fields collapse to one.
"""

from __future__ import annotations

import difflib
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass

# Every column a label may name, with a sample value of its kind (used to check format specs).
# A stage that adds a per-row column worth showing adds its name here.
FIELDS: dict[str, object] = {
    "track_id": 7, "score": 0.5, "class_id": 0,  # core columns
    "class_name": "person", "set": "people",  # text columns of the model stages
    "identity": "name", "action": "walking",  # text columns added by later stages
}


@dataclass(frozen=True, slots=True)
class Part:
    """Literal text followed by at most one field."""

    literal: str
    field: str | None = None
    spec: str = ""


class Template:
    """A parsed label template; `render` fills it for one row."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.parts = parse(text)
        self.fields = tuple(dict.fromkeys(p.field for p in self.parts if p.field is not None))

    def render(self, values: Mapping[str, object]) -> str | None:
        """The label for one row (`values`: field -> value, None when missing); None when every field
        the template names is missing or the text is blank."""
        cells = {name: _present(name, values.get(name)) for name in self.fields}
        if self.fields and all(v is None for v in cells.values()):
            return None
        pieces = []
        for part in self.parts:
            pieces.append(part.literal)
            value = cells.get(part.field) if part.field is not None else None
            if value is not None:
                pieces.append(_format(value, part.spec))
        return " ".join("".join(pieces).split()) or None


def parse(text: str) -> list[Part]:
    """Split a template into parts.

    Raises:
        ValueError: bad braces, a field that is not a known column name, a conversion (`!r`), or a
            format spec that does not fit the column's kind (`{identity:.2f}`).
    """
    try:
        items = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"label text {text!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
    parts = []
    for literal, name, spec, conversion in items:
        if name is None:
            parts.append(Part(literal))
            continue
        if not name.isidentifier():
            raise ValueError(f"label text {text!r}: '{{{name}}}' must name a column, e.g. {{track_id}} "
                             f"(known fields: {', '.join(FIELDS)})")
        if conversion:
            raise ValueError(f"label text {text!r}: conversions like '!{conversion}' are not supported")
        if name not in FIELDS:
            close = difflib.get_close_matches(name, list(FIELDS), n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"unknown label field '{name}'{hint}; known fields: {', '.join(FIELDS)}")
        try:
            format(FIELDS[name], spec or "")
        except (ValueError, TypeError):
            kind = "text" if isinstance(FIELDS[name], str) else "a number"
            raise ValueError(f"label text {text!r}: format ':{spec}' does not fit field '{name}' "
                             f"({kind})") from None
        parts.append(Part(literal, name, spec or ""))
    return parts


def _present(name: str, value: object) -> object:
    """`value` as a Python scalar, or None when it counts as missing."""
    value = getattr(value, "item", lambda: value)()  # numpy scalar -> Python
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if name == "track_id" and isinstance(value, int) and value < 0:
        return None
    return value


def _format(value: object, spec: str) -> str:
    """`format(value, spec)`, falling back to `str(value)` for a value of an unexpected kind."""
    try:
        return format(value, spec)
    except (ValueError, TypeError):
        return str(value)
