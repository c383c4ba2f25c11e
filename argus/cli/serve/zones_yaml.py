"""Reading and writing the `zones` stage's `lines:` and `zones:` in the user's YAML text.

The editor's drawing tools send the shapes drawn on a preview; `set_shapes_text` puts them into
the `stages:` entry of `type: zones` (appending one when there is none) and changes only those
lines: items that did not change keep their text, changed ones are rewritten in place as one
flow mapping (`- {id: door, points: [[600, 150], [600, 576]]}`), removed ones lose their lines,
new ones are appended. Comments elsewhere, `${env:...}` references and the rest of the text stay
as written. The result is checked by parsing; a layout the edit cannot follow (e.g. a flow-style
`stages:` holding everything) is rewritten with `yaml.safe_dump` instead (comments lost).
"""

from __future__ import annotations

from typing import Any

import yaml

from argus.cli.serve.safety import InputError
from argus.cli.serve.sources_yaml import _same, _scalar, load_mapping

KINDS = {"lines": "points", "zones": "polygon"}  # list key -> the key holding its points
MAX_SHAPES = 200
MAX_POINTS = 200


def _flow(value: Any) -> str:
    """`value` as one line of flow-style YAML."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _watches(stage: Any, source: str | None) -> bool:
    """True for a zones stage that watches `source` (every zones stage when `source` is None)."""
    if not isinstance(stage, dict) or stage.get("type") != "zones":
        return False
    sources = stage.get("sources")
    return source is None or sources is None or (isinstance(sources, list) and source in sources)


def _zones_index(stages: list[Any], source: str | None) -> int | None:
    return next((i for i, s in enumerate(stages) if _watches(s, source)), None)


def read_shapes(text: str) -> list[dict[str, Any]]:
    """Per zones stage: its index, `sources` and its `lines` / `zones` entries as written (nothing
    when the text does not parse). The editor draws those of the stage watching the shown source."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError:
        data = None
    stages = data.get("stages") if isinstance(data, dict) else None
    out = []
    for index, stage in enumerate(stages if isinstance(stages, list) else []):
        if _watches(stage, None):
            found: dict[str, Any] = {"stage": index, "sources": stage.get("sources")}
            for key in KINDS:
                entries = stage.get(key)
                found[key] = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
            out.append(found)
    return out


def check_shapes(key: str, entries: Any) -> list[dict[str, Any]]:
    """The shapes of a request: a list of objects with a string `id` (InputError otherwise). Their
    geometry is checked with the rest of the config when it is applied."""
    if entries is None:
        return []
    if not isinstance(entries, list) or len(entries) > MAX_SHAPES:
        raise InputError(422, f"'{key}' must be a list of at most {MAX_SHAPES} objects")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
            raise InputError(422, f"{key}[{i}] needs an 'id' (name it before applying)")
        points = entry.get(KINDS[key])
        if isinstance(points, list) and len(points) > MAX_POINTS:
            raise InputError(422, f"{key} '{entry['id']}' has more than {MAX_POINTS} points")
        if _depth(entry) > 6:
            raise InputError(422, f"{key} '{entry['id']}' is nested too deeply")
    return entries


def _depth(value: Any, limit: int = 7) -> int:
    """Nesting depth of a JSON value, counted up to `limit`."""
    if limit <= 0 or not isinstance(value, dict | list):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(v, limit - 1) for v in children), default=0)


def set_shapes_text(text: str, lines: list[dict[str, Any]], zones: list[dict[str, Any]],
                    source: str | None = None) -> str:
    """`text` with the `lines:` and `zones:` of the zones stage watching `source` (the first one
    with no `sources:` or naming it) set to these entries; an empty list removes the key. Without
    such a stage one is appended to `stages:` (with `sources: [source]` when other zones stages
    watch other sources)."""
    data = load_mapping(text, "applying lines and zones")
    if "stages" in data and not isinstance(data["stages"], list):
        raise InputError(409, "'stages' is not a list: fix it in the editor first")
    new = {"lines": lines, "zones": zones}
    if "stages" in data:
        stages = list(data["stages"])
    else:  # no `stages:` means the default ones: keep them before the new stage
        from pipeline.registry import default_registry

        stages = list(default_registry().default_stages)
    index = _zones_index(stages, source)
    if index is None:
        stage: dict[str, Any] = {"type": "zones"}
        if source is not None and _zones_index(stages, None) is not None:
            stage["sources"] = [source]
        stage.update({k: v for k, v in new.items() if v})
        stages.append(stage)
    else:
        stage = {k: v for k, v in stages[index].items() if k not in new or new[k]}
        stage.update({k: v for k, v in new.items() if v})
        stages[index] = stage
    expected = {**data, "stages": stages}
    try:
        candidate = _edit(text, data, expected, index)
    except yaml.YAMLError:
        candidate = None
    if candidate is not None and _same(candidate, expected):
        return candidate
    return yaml.safe_dump(expected, sort_keys=False)


# ---------------------------------------------------------------------- text edits
def _content_end(node: yaml.Node) -> int:
    """Where `node`'s own text ends (a block collection's end mark lies after trailing comments)."""
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node.end_mark.index


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _items(entries: list[dict[str, Any]], indent: int) -> str:
    """`- {...}` lines at `indent`, each starting with a newline."""
    return "".join(f"\n{' ' * indent}- {_flow(e)}" for e in entries)


def _block_entry(entry: dict[str, Any], indent: int) -> str:
    """A stage as a block mapping whose first line follows `- ` and the rest sit at `indent`."""
    parts = []
    for key, value in entry.items():
        if key in KINDS and isinstance(value, list) and value:
            parts.append(f"{_scalar(key)}:{_items(value, indent + 2)}")
        else:
            parts.append(f"{_scalar(key)}: {_flow(value)}")
    return f"\n{' ' * indent}".join(parts)


class _Edits:
    """Replacements of text ranges, applied from the end so earlier offsets stay valid."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.edits: list[tuple[int, int, int, str]] = []

    def replace(self, start: int, end: int, new: str) -> None:
        self.edits.append((start, end, len(self.edits), new))

    def insert_lines(self, at: int, new: str) -> None:
        """Insert `new` (lines, each starting with a newline) at `at`, the start of a line or the end."""
        if at == len(self.text) and self.text and not self.text.endswith("\n"):
            self.replace(at, at, new + "\n")
        else:
            self.replace(at, at, new[1:] + "\n")

    def delete_lines(self, node: yaml.Node) -> bool:
        """Remove the lines of a block sequence item (False when other text shares them)."""
        start = _line_start(self.text, node.start_mark.index)
        end = _content_end(node)
        after = self.text[end:_line_end(self.text, end)].strip()
        if self.text[start:node.start_mark.index].strip() != "-" or (after and not after.startswith("#")):
            return False
        self.replace(start, _line_end(self.text, end), "")
        return True

    def result(self) -> str:
        text = self.text
        for start, end, _seq, new in sorted(self.edits, key=lambda e: (e[0], e[2]), reverse=True):
            text = text[:start] + new + text[end:]
        return text


def _find(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    return next(((k, v) for k, v in mapping.value if getattr(k, "value", None) == key), None)


def _edit(text: str, data: dict[str, Any], expected: dict[str, Any], index: int | None) -> str | None:
    """The edited text, or None for a layout these edits do not handle."""
    root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    edits = _Edits(text)
    stages = expected["stages"]
    if root is None or (isinstance(root, yaml.MappingNode) and _find(root, "stages") is None):
        if root is not None and root.flow_style:
            return None
        body = "".join(f"\n  - {_flow(s)}" for s in stages[:-1])
        edits.insert_lines(len(text), f"\nstages:{body}\n  - {_block_entry(stages[-1], 4)}")
        return edits.result()
    if not isinstance(root, yaml.MappingNode):
        return None
    key_node, seq = _find(root, "stages")  # type: ignore[misc]
    if not isinstance(seq, yaml.SequenceNode):
        return None
    if index is None:  # append a new stage entry
        entry = stages[-1]
        if seq.flow_style or not seq.value:
            indent = key_node.start_mark.column + 2
            body = "".join(f"\n{' ' * indent}- {_flow(s)}" for s in stages[:-1])
            edits.replace(key_node.end_mark.index, seq.end_mark.index,
                          f":{body}\n{' ' * indent}- {_block_entry(entry, indent + 2)}")
        else:
            dash = seq.start_mark.column
            edits.insert_lines(_line_end(text, _content_end(seq.value[-1])),
                               f"\n{' ' * dash}- {_block_entry(entry, dash + 2)}")
        return edits.result()
    stage = seq.value[index]
    if not isinstance(stage, yaml.MappingNode) or seq.flow_style:
        return None
    if stage.flow_style or not _edit_stage(edits, stage, data["stages"][index], stages[index]):
        edits = _Edits(text)  # rewrite the whole entry as a block mapping (its own comments lost)
        edits.replace(stage.start_mark.index, _content_end(stage),
                      _block_entry(stages[index], stage.start_mark.column))
    return edits.result()


def _align(old: list[Any], new: list[Any]) -> list[int | None] | None:
    """For each old entry, the index of the new entry that replaces it in place (None: removed).

    Entries pair by `id`; an old entry whose id is gone pairs with an unpaired new one between its
    neighbours (a rename). The new entries left over must come after every paired one (appended):
    otherwise None (the order changed)."""
    ids = [e.get("id") if isinstance(e, dict) else None for e in new]
    pairs: list[int | None] = []
    used: set[int] = set()
    for entry in old:
        j = next((j for j, i in enumerate(ids) if j not in used and i is not None
                  and isinstance(entry, dict) and i == entry.get("id")), None)
        pairs.append(j)
        if j is not None:
            used.add(j)
    for k, j in enumerate(pairs):
        if j is None:
            low = max((p for p in pairs[:k] if p is not None), default=-1)
            high = min((p for p in pairs[k + 1:] if p is not None), default=len(new))
            j = next((j for j in range(low + 1, high) if j not in used and ids[j] not in
                      {e.get("id") for e in old if isinstance(e, dict)}), None)
            pairs[k] = j
            if j is not None:
                used.add(j)
    kept = [j for j in pairs if j is not None]
    if kept != sorted(kept) or any(j not in used and j < max(kept, default=-1) for j in range(len(new))):
        return None
    return pairs


def _edit_stage(edits: _Edits, stage: yaml.MappingNode, old_stage: dict[str, Any], new_stage: dict[str, Any]) -> bool:
    """Edit `lines:` and `zones:` of a block-style stage item item by item (False: not possible)."""
    text = edits.text
    indent = stage.value[0][0].start_mark.column
    missing = ""  # keys to add, after the stage's last line (and after items appended there)
    for key in KINDS:
        new = new_stage.get(key, [])
        pair = _find(stage, key)
        if pair is None:
            missing += f"\n{' ' * indent}{key}:{_items(new, indent + 2)}" if new else ""
            continue
        key_node, value = pair
        start = _line_start(text, key_node.start_mark.index)
        if text[start:key_node.start_mark.index].strip():  # the key shares the item's `- ` line
            return False
        if not new:  # remove the key and its value
            edits.replace(start, _line_end(text, _content_end(value)), "")
            continue
        old = old_stage.get(key)
        if not isinstance(value, yaml.SequenceNode) or value.flow_style or not value.value \
                or not isinstance(old, list) or len(old) != len(value.value):
            edits.replace(key_node.end_mark.index, _content_end(value), f":{_items(new, indent + 2)}")
            continue
        pairs = _align(old, new)
        if pairs is None:  # reordered: the list is written again
            edits.replace(key_node.end_mark.index, _content_end(value), f":{_items(new, indent + 2)}")
            continue
        for item, before, j in zip(value.value, old, pairs, strict=True):
            if j is None:
                if not edits.delete_lines(item):
                    return False
            elif before != new[j]:
                edits.replace(item.start_mark.index, _content_end(item), _flow(new[j]))
        appended = max((j for j in pairs if j is not None), default=-1) + 1
        if appended < len(new):
            edits.insert_lines(_line_end(text, _content_end(value.value[-1])),
                               _items(new[appended:], value.start_mark.column))
    if missing:
        edits.insert_lines(_line_end(text, _content_end(stage)), missing)
    return True
