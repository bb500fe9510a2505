"""``python -m graphseq``: the same as the ``graphseq`` command."""

import sys

from .cli import main

sys.exit(main())
