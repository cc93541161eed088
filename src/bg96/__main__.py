"""``python -m bg96``: the same as the ``bg96`` command."""

import sys

from .cli import main

sys.exit(main())
