"""Event clips (issue 26): a fragmented H.264 MP4 per triggered clip, with pre-roll, an index and retention.

`config.py` (the `clips` sink's config and its trigger checks), `events.py` (`clip_saved`),
`encoder.py` (each source's frames encoded once, as they arrive), `ring.py` (the pre-roll: recent
encoded frames, and why they are kept encoded), `writer.py` (one clip's fragmented MP4),
`triggers.py` (event -> trigger), `recorder.py` (a source's clips: open, merge, split, close),
`index.py` (`clips.jsonl`: rows, crash recovery, `read_index`, `delete_clip`), `retention.py`
(what to delete), `sink.py` (the sink).
"""

from stages.sinks.clips.index import INDEX_NAME, ClipBusyError, delete_clip, read_index

__all__ = ["INDEX_NAME", "ClipBusyError", "delete_clip", "read_index"]
