"""The config's JSON Schema for editors: pydantic's, optionally with every `$ref` inlined.

CodeMirror's schema completion (codemirror-json-schema) does not follow `$ref`s below the top level,
so the editor asks for the inlined form; a recursive definition is left as a `$ref`. A
discriminated union (`stages`, `sinks`) also gets json-schema-library's `oneOfProperty`, so hover
docs inside a stage resolve to its type's fields.
"""

from __future__ import annotations

from typing import Any

from pipeline.config_reference import config_schema_with_events


def config_schema(inline: bool = False) -> dict[str, Any]:
    """The JSON Schema of a pipeline config (`run.py schema`: with the registered event types under
    `x-argus-event-types`, which the page listens to), `$ref`s inlined when `inline`."""
    schema = config_schema_with_events()
    if not inline:
        return schema
    defs = schema.pop("$defs", {})
    return _inline(schema, defs, ())


def _inline(value: Any, defs: dict[str, Any], active: tuple[str, ...]) -> Any:
    if isinstance(value, list):
        return [_inline(v, defs, active) for v in value]
    if not isinstance(value, dict):
        return value
    ref = value.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.rsplit("/", 1)[-1]
        if name in defs and name not in active:
            rest = {k: _inline(v, defs, active) for k, v in value.items() if k != "$ref"}
            return {**_inline(defs[name], defs, (*active, name)), **rest}
        return value
    out = {k: _inline(v, defs, active) for k, v in value.items()}
    discriminator = value.get("discriminator")
    if "oneOf" in value and isinstance(discriminator, dict) and "propertyName" in discriminator:
        out["oneOfProperty"] = discriminator["propertyName"]  # json-schema-library picks the branch by it
    return out
