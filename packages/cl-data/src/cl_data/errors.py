"""The one error type for bad benchmark input: it names the file and, where known, the row."""

from __future__ import annotations

from os import PathLike


class DataError(ValueError):
    """Malformed or missing benchmark data.

    The message always names the path, and the 0-based row index when one row is at fault, so
    a researcher can open the file and find the problem at once.
    """

    def __init__(
        self, message: str, path: str | PathLike[str] | None = None, row: int | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.row = row
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if row is not None:
                where += f", row {row}"
            where += ": "
        super().__init__(f"{where}{message}")


class DataWarning(UserWarning):
    """A quirk of the data that is kept on purpose (e.g. MNLI test rows labelled `-`)."""
