"""``python -m bg96``: the same as the ``bg96`` command."""

import sys

from .cli.app import main

sys.exit(main())
