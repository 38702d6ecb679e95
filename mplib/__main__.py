"""``python -m mplib <command>``: see :mod:`mplib.cli` for the commands."""

import sys

from mplib.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
