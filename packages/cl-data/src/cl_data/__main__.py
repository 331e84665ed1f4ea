"""`python -m cl_data` runs the `cl-data` command line."""

import sys

from cl_data.cli import main

sys.exit(main())
