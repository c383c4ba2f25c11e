"""Errors that end a run with a one-line message and a documented exit code (no traceback)."""

from __future__ import annotations


class ArgusError(Exception):
    """An error the user can fix; printed as one line. `exit_code` follows the CLI contract."""

    exit_code = 1


class ConfigError(ArgusError):
    """The config (file, --set override or environment) is invalid: `FILE:LINE: key.path: problem`."""

    exit_code = 2

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


class SourceOpenError(ArgusError):
    """A source could not be opened before the run started."""

    exit_code = 2

    def __init__(self, source_id: str, uri: str, reason: str) -> None:
        from pipeline.secrets import mask_secrets

        super().__init__(mask_secrets(f"source '{source_id}': cannot open {uri}: {reason}"))


class SinkOpenError(ArgusError):
    """A sink could not start (bad path, outbox in use, missing package): one line naming sink and key."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        from pipeline.secrets import mask_secrets

        super().__init__(mask_secrets(message))


class ModelError(ArgusError):
    """A model file is missing, unreadable or does not match what the stage expects."""

    exit_code = 2
