"""Strict JSON for every file cl-methods writes: no ``NaN`` / ``Infinity`` tokens (which strict
parsers reject). A non-finite float becomes ``null`` and the object says so: a mapping gets a
``"nonfinite"`` key listing the paths of the values that were not finite."""

from __future__ import annotations

import json
import math
from typing import Any

FLAG = "nonfinite"


def finite(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """(``value`` with non-finite floats replaced by None, the dotted paths replaced)."""
    if isinstance(value, float):
        return (value, []) if math.isfinite(value) else (None, [path or "."])
    if isinstance(value, dict):
        out, bad = {}, []
        for k, v in value.items():
            out[k], sub = finite(v, f"{path}.{k}" if path else str(k))
            bad += sub
        return out, bad
    if isinstance(value, (list, tuple)):
        items = [finite(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return [v for v, _ in items], [p for _, sub in items for p in sub]
    return value, []


def strict(value: Any) -> Any:
    """``value`` ready for ``json.dumps(..., allow_nan=False)``; a mapping holding non-finite
    numbers gets the ``"nonfinite"`` list of their paths."""
    clean, bad = finite(value)
    if bad and isinstance(clean, dict):
        clean[FLAG] = sorted(set(clean.get(FLAG) or []) | set(bad))
    return clean


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`strict` ``(value)`` with ``allow_nan=False``."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)
