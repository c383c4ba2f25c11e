#!/usr/bin/env python3
"""Argus command line: `python run.py --help` (installed as `argus`)."""

from __future__ import annotations

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main())
