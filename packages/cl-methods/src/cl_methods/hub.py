"""Is the Hugging Face hub reachable? A fast check, so that an offline machine fails at once with
an actionable message instead of waiting for the hub client's retries."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

_TRUE = {"1", "true", "yes", "on"}


def hub_offline_forced() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    return any(
        os.environ.get(var, "0").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_reachable(timeout: float = 3.0) -> bool:
    """False when offline mode is forced or a TCP connection to the hub endpoint
    (``HF_ENDPOINT``, default huggingface.co:443) cannot be opened within ``timeout`` seconds."""
    if hub_offline_forced():
        return False
    parsed = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def local_only(name_or_path: str) -> bool:
    """Load with ``local_files_only=True``: a local folder, or a hub id while the hub is down
    (the cache may still hold it; a miss then fails at once rather than after retries)."""
    return Path(name_or_path).is_dir() or not hub_reachable()
