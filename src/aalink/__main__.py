"""``python -m aalink``: a live terminal monitor and controller for the Link
session (see ``python -m aalink --help`` and aalink.monitor)."""
import sys

from .monitor import main

if __name__ == "__main__":
    sys.exit(main())
