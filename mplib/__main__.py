"""Command line: ``python -m mplib check-params NOTEBOOK [PRESET.yaml ...]`` or ``versions``."""

import sys

from mplib.repro import _main

sys.exit(_main(sys.argv[1:]))
