"""``python -m export`` is ``python -m export.all``."""

import sys

from .all import main

sys.exit(main())
