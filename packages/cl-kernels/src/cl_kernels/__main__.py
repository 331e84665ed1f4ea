"""``python -m cl_kernels [--check]``: see ``cl_kernels._cli``."""

import sys

from ._cli import main

sys.exit(main())
