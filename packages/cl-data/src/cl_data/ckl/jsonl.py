"""JSON-lines reading and writing with errors that name the file and row."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import jsonio
from ..errors import DataError


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (row, object) for each non-empty line; a missing file or bad line is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    with path.open(encoding="utf-8") as f:
        for row, line in enumerate(f):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"invalid JSON ({err.msg})", path, row) from err
            if not isinstance(obj, dict):
                raise DataError(f"expected a JSON object, got {type(obj).__name__}", path, row)
            yield row, obj


def write_jsonl(records: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write atomically (temporary file, then rename), so an interruption leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(jsonio.dumps(rec, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def require_str(obj: dict[str, Any], key: str, path: Path, row: int, nonempty: bool = True) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise DataError(f"field {key!r} must be a string, got {value!r}", path, row)
    if nonempty and not value.strip():
        raise DataError(f"field {key!r} is empty", path, row)
    return value
