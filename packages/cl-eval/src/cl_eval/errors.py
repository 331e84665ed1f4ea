"""The one error type for bad evaluation input: it names the file, line or argument at fault."""

from __future__ import annotations

from os import PathLike
from pathlib import Path


class EvalInputError(ValueError):
    """Malformed or inconsistent evaluation input: a results JSON, a prediction file, a cell.

    The message names the path and the 1-based line number when a file is at fault, so the
    offending record can be opened at once.
    """

    def __init__(
        self, message: str, path: str | PathLike[str] | None = None, line: int | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(f"{where}{message}")


class MissingDependencyError(ImportError):
    """An optional dependency (matplotlib for plots) is not installed."""


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``; a missing file, a folder, a binary or unreadable file is an
    :class:`EvalInputError` naming it."""
    if path.is_dir():
        raise EvalInputError(f"is a folder, not a {what}", path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalInputError(f"{what} not found", path) from None
    except UnicodeDecodeError:
        raise EvalInputError(f"not UTF-8 text (a binary file?), not a {what}", path) from None
    except OSError as err:
        raise EvalInputError(f"cannot read the {what}: {err.strerror}", path) from None
