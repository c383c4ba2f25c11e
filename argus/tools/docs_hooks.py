"""MkDocs hook (`mkdocs.yml: hooks`): pages that say `<!-- config-reference -->` get the config
reference generated from the config models and the registered event types at build time, so the
reference can never fall behind the schema."""

from __future__ import annotations

from typing import Any

MARKER = "<!-- config-reference -->"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the marker with the generated reference (the plugins' stages, sinks and events included)."""
    if MARKER not in markdown:
        return markdown
    from pipeline.config_reference import config_reference

    return markdown.replace(MARKER, config_reference().strip())
