"""Where the shared benchmark data lives: `$CL_SHARED_DATA`, else `../shared/data` from the cwd."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CL_SHARED_DATA"


def shared_data_root() -> Path:
    """The shared data folder (not checked for existence)."""
    value = os.environ.get(ENV_VAR)
    if value:
        return Path(value).expanduser()
    return Path.cwd().parent / "shared" / "data"
