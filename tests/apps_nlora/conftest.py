"""Helpers for the N-LoRA app tests: apps/ on sys.path, and a subprocess runner for the app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:  # in-process runs import the app and its recipe (apps/common)
    sys.path.insert(0, str(APPS))


def _run_app(script: str, *args: str, env: dict | None = None, timeout: int = 600):
    full_env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(APPS / script), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
    )


@pytest.fixture
def nlora_app():
    return lambda *args, **kw: _run_app("reproduce_nlora.py", *args, **kw)
