"""Puts this folder on sys.path so the tests share `lamol_tiny` (tiny models and tokenizers)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
