"""Reading JSON data files with errors that name the file, the row and the field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from cl_data.errors import DataError


def read_json(path: Path) -> Any:
    """Parse `path`; a missing file or invalid JSON is a DataError naming it."""
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "file not found"
        raise DataError(what, path)
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise DataError(
            f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}", path
        ) from None
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 text: {err}", path) from None


def read_json_list(path: Path) -> list[Any]:
    """Parse `path`, which must hold a JSON list."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list, found a JSON {type(data).__name__}", path)
    return data


def string_field(row: Any, key: str, path: Path, index: int) -> str:
    """`row[key]` of a JSON object row, which must be a string."""
    if not isinstance(row, dict):
        raise DataError(f"expected a JSON object, found {type(row).__name__}", path, index)
    if key not in row:
        raise DataError(f"row has no {key!r} field (fields: {sorted(row)})", path, index)
    value = row[key]
    if not isinstance(value, str):
        raise DataError(f"{key!r} must be a string, found {type(value).__name__}", path, index)
    return value


def strict_json(value: Any) -> Any:
    """``value`` for ``json.dumps(..., allow_nan=False)``: non-finite floats become None, and a
    mapping that held any gets ``"nonfinite"``, the list of their keys' paths."""
    bad: list[str] = []

    def clean(x: Any, path: str) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            bad.append(path or ".")
            return None
        if isinstance(x, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(x)]
        return x

    out = clean(value, "")
    if bad and isinstance(out, dict):
        out["nonfinite"] = bad
    return out


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``value`` (see :func:`strict_json`)."""
    return json.dumps(strict_json(value), allow_nan=False, **kwargs)
