"""The server's hold on one pipeline: its YAML text, applied versions, validation and changes.

Every change (editor apply, revert, the sources form) goes through `apply_text`, so each one is
validated the same way as `run.py check`, applied with `Pipeline.apply` (hot reload) and recorded
as a version. Responses only ever carry the user's text, never the interpolated config.

When the config given at start is invalid (or a source cannot open) no pipeline runs: the editor
shows the errors, and the first valid apply builds and starts it.

The pipeline is used only through the Pipeline protocol (`pipeline.protocol.PipelineAPI`): the
single-process `Pipeline` and `serve --ray`'s `RayPipeline` are driven the same way.
"""

from __future__ import annotations

import difflib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argus.cli.serve.errors import EDITOR_NAME, Redactor, error_entries
from argus.cli.serve.sources_yaml import add_source_text, remove_source_text
from pipeline import Pipeline
from pipeline.atomic_file import write_text_atomic
from pipeline.config import PipelineConfig, load_config
from pipeline.errors import ArgusError, ConfigError
from pipeline.protocol import PipelineAPI
from pipeline.reload import plan_reload

log = logging.getLogger("argus")


class ApplyRefused(Exception):
    """A change that was not applied: `status` (422 invalid, 409 could not be brought up, 404 unknown)
    and `errors` in the editor's format."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.status, self.errors = status, errors


@dataclass
class Version:
    """One applied config."""

    version: int
    yaml: str
    changed: dict[str, Any]
    applied_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "changed": self.changed, "applied_at": round(self.applied_at, 3)}


class Controller:
    """Owns the pipeline of `run.py serve` and serialises every change to it."""

    def __init__(self, path: Path | None, text: str | None = None, history_max: int = 50,
                 factory: Callable[[PipelineConfig], PipelineAPI] | None = None) -> None:
        self.path = path
        self.factory = factory or (lambda config: Pipeline(config, keep_alive=True))  # serve --ray: RayPipeline
        self.redact = Redactor()
        self.pipeline: PipelineAPI | None = None
        self.history: list[Version] = []
        self.history_max = history_max
        self.startup_errors: list[dict[str, Any]] = []
        self._version_base = 0  # versions of the pipelines that ended before this one
        self._lock = threading.RLock()
        self.read_error: str | None = None
        self.yaml = text if text is not None else self._read(path)
        self.redact.learn(self.yaml)
        self.on_pipeline: list[Callable[[PipelineAPI], None]] = []  # called with each pipeline built

    def _read(self, path: Path | None) -> str:
        if path is None:
            default = Path(__file__).resolve().parents[3] / "configs" / "default.yaml"
            return default.read_text(encoding="utf-8") if default.is_file() else ""
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.read_error = f"cannot read {path}: {reason} (write the config here and Apply & save)"
            return ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Build and start the pipeline from the current text; on any problem stay stopped."""
        with self._lock:
            if self.read_error is not None:
                self.startup_errors = [{"line": None, "key": "", "message": self.read_error}]
                log.warning("serve: %s: the pipeline waits stopped", self.read_error)
                return
            try:
                config = self.validate(self.yaml)
                self._build(config, self.yaml)
            except ApplyRefused as exc:
                self.startup_errors = exc.errors
                log.warning("serve: the config is invalid, the pipeline waits stopped: %s", exc)

    def _build(self, config: PipelineConfig, text: str) -> dict[str, Any]:
        try:
            pipeline = self.factory(config)
        except ArgusError as exc:
            raise ApplyRefused(409, error_entries(str(exc).splitlines(), self.redact)) from None
        pipeline.start()
        if self.pipeline is not None:  # it had ended (a fatal stage or sink error): versions go on
            self._version_base = self.version
            self.pipeline.wait(5.0)
        self.pipeline = pipeline
        self.startup_errors = []
        self._record(text, {"pipeline": ["started"]})
        for callback in self.on_pipeline:
            callback(pipeline)
        return {"version": self.version, "changed": {"pipeline": ["started"]}}

    def stop(self, timeout: float = 30.0) -> int | None:
        """Orderly stop of the pipeline (outputs closed); its exit code."""
        pipeline = self.pipeline
        if pipeline is None:
            return None
        pipeline.stop()
        return pipeline.wait(timeout)

    @property
    def version(self) -> int:
        return self._version_base + (self.pipeline.version if self.pipeline is not None else 0)

    # ------------------------------------------------------------------ config
    def validate(self, text: str) -> PipelineConfig:
        """The config `run.py check` would accept, or ApplyRefused(422) with its errors."""
        self.redact.learn(text)
        try:
            return load_config(text=text, name=EDITOR_NAME)
        except ConfigError as exc:
            raise ApplyRefused(422, error_entries(exc.lines, self.redact)) from None
        except ArgusError as exc:
            raise ApplyRefused(422, error_entries(str(exc).splitlines(), self.redact)) from None

    def check(self, text: str) -> dict[str, Any]:
        """Validate only: errors, or what an apply would change and the text diff."""
        try:
            config = self.validate(text)
        except ApplyRefused as exc:
            return {"ok": False, "errors": exc.errors}
        diff = "".join(difflib.unified_diff(self.yaml.splitlines(keepends=True), text.splitlines(keepends=True),
                                            "applied", "editor", n=1))
        return {"ok": True, "errors": [], "changes": self._plan(config), "diff": diff}

    def _plan(self, config: PipelineConfig) -> dict[str, Any]:
        if self.pipeline is None:
            return {"pipeline": ["start"]}
        plan = plan_reload(self.pipeline.config, config)
        out: dict[str, Any] = {}
        for name in ("sources", "stages", "sinks"):
            diff = getattr(plan, name)
            entries = {k: v for k, v in (("added", diff.added), ("removed", diff.removed),
                                         ("changed", diff.changed)) if v}
            if entries:
                out[name] = entries
        if plan.runner:
            out["runner"] = plan.runner
        if plan.metrics:
            out["metrics"] = ["restarted"]
        return out

    def apply_text(self, text: str, save: bool = False) -> dict[str, Any]:
        """Validate, hot-reload (or start) and record `text`; optionally save it to the file."""
        with self._lock:
            if save and self.path is None:
                raise ApplyRefused(409, [{"line": None, "key": "", "message":
                                          "cannot save: serve was started without a CONFIG file"}])
            config = self.validate(text)
            if self.pipeline is None or self.pipeline.ended:
                report = self._build(config, text)
            else:
                try:
                    report = self.pipeline.apply(config)
                except ConfigError as exc:
                    raise ApplyRefused(422, error_entries(exc.lines, self.redact)) from None
                except ArgusError as exc:
                    raise ApplyRefused(409, error_entries(str(exc).splitlines(), self.redact)) from None
                if report["changed"] or text != self.yaml:
                    self._record(text, report["changed"])
            if save:
                self.save(text)
            return {"version": self.version, "changed": self.redact.deep(report["changed"]),
                    "saved": bool(save)}

    def _record(self, text: str, changed: dict[str, Any]) -> None:
        self.yaml = text
        self.history.append(Version(self.version, text, changed))
        del self.history[:-self.history_max]

    def revert(self, version: int) -> dict[str, Any]:
        """Apply the text of an earlier version again (as a new version)."""
        with self._lock:
            for entry in self.history:
                if entry.version == version:
                    return self.apply_text(entry.yaml)
        raise ApplyRefused(404, [{"line": None, "key": "", "message": f"no applied version {version}"}])

    def save(self, text: str) -> None:
        """Write the config file atomically (temporary file, fsync, rename), keeping the previous one
        as `NAME~`."""
        assert self.path is not None
        write_text_atomic(self.path, text, keep_previous=True)

    # ------------------------------------------------------------------ sources
    def source_ids(self) -> list[str]:
        return [s.id for s in self.pipeline.config.sources] if self.pipeline is not None else []

    def add_source(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Add a source entry to the YAML and apply it (the editor shows the new text)."""
        with self._lock:
            return self.apply_text(add_source_text(self.yaml, entry))

    def remove_source(self, source_id: str) -> dict[str, Any]:
        with self._lock:
            if source_id not in self.source_ids():
                raise ApplyRefused(404, [{"line": None, "key": "sources", "message":
                                          f"no source with id '{source_id}'"}])
            return self.apply_text(remove_source_text(self.yaml, source_id))
