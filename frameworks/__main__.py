"""``python -m frameworks``: the command line (see ``frameworks.cli``)."""

import sys

from .cli import main

sys.exit(main())
