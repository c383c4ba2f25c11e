"""What a source yields; the types live in the core (`pipeline.source`) and are re-exported here."""

from __future__ import annotations

from pipeline.source import Source, SourceItem, StreamEnd, StreamLost, StreamRecovered, StreamStart

__all__ = ["Source", "SourceItem", "StreamEnd", "StreamLost", "StreamRecovered", "StreamStart"]
