"""Helpers for the N-LoRA app tests: apps/ on sys.path, and a subprocess runner for the app."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:  # in-process runs import the app and its recipe (apps/common)
    sys.path.insert(0, str(APPS))


@pytest.fixture
def nlora_app(app_script):
    def run(*args: str, env: dict | None = None, timeout: int = 600, kill_after_step=None):
        return app_script(
            "reproduce_nlora.py", *args, env=env, timeout=timeout, kill_after_step=kill_after_step
        )

    return run
