"""Writing a text file so that a reader (or a crash) never sees it half-written."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_text_atomic(path: Path, text: str, *, keep_previous: bool = False) -> None:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it over `path`.

    keep_previous: copy an existing `path` to `NAME~` first (the copy, not a rename, so `path` is
    never missing). On any failure the temporary file is removed and `path` is left as it was.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_previous and path.exists():
            shutil.copy2(path, path.with_name(path.name + "~"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
