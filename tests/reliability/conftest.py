"""Helpers for the reliability suite: apps/ on sys.path (in-process runs import the apps), and
the quick argument lists of each app family."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))
