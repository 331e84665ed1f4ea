"""``python -m cl_eval``: the same as the ``cl-eval`` command."""

from cl_eval.cli import main

raise SystemExit(main())
