"""The command line (`python run.py VERB ...`): above every other package, imported by nothing but run.py."""

from argus.cli.main import main

__all__ = ["main"]
