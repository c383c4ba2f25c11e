"""The `argus` command (also `python run.py`, `python -m argus`): Ctrl-C and SIGTERM handlers first, then the CLI."""

from __future__ import annotations

import signal


def _early_exit(signum: int, frame: object) -> None:
    raise SystemExit(130)  # Ctrl-C / SIGTERM while importing: nothing is open yet, exit quietly


for _sig in (signal.SIGINT, signal.SIGTERM):  # until argus.cli.main installs its own handlers
    signal.signal(_sig, _early_exit)

from argus import cli  # noqa: E402  (after the handlers: imports take seconds on a busy machine)


def main() -> int:
    """Run one command. Once it has returned, every output is closed: a late Ctrl-C / SIGTERM is
    ignored, so it cannot kill the interpreter's exit (CPython restores the default handlers while
    it finalises, and a SIGTERM then ends the process with -15 instead of the command's exit code)."""
    code = cli.main()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    return code

