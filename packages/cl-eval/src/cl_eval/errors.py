"""The one error type for bad evaluation input: it names the file, line or argument at fault."""

from __future__ import annotations

from os import PathLike


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
