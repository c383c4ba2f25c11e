"""The command line (`python run.py VERB ...`): above every other package, imported by nothing but run.py."""

from cli.main import main

__all__ = ["main"]
