"""``python -m selection``: see :mod:`selection.cli`."""

import sys

from selection.cli import main

if __name__ == "__main__":
    sys.exit(main())
