#!/usr/bin/env python3
"""Argus command line from a checkout: `python run.py --help` (installed, the same is `argus`)."""

import sys

from argus.entry import main

if __name__ == "__main__":
    sys.exit(main())
