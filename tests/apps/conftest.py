"""Helpers for app tests: run an app script in a subprocess."""

from __future__ import annotations

import pytest


@pytest.fixture
def app(app_script):
    """``app(script, *args, env=None, timeout=900)``: the shared runner of tests/conftest.py."""
    return app_script
