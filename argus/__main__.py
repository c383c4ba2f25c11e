"""`python -m argus ...`: the same as the `argus` command."""

import sys

from argus.entry import main

sys.exit(main())
