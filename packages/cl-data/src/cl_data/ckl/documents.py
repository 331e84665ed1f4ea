"""Training and replay documents of continual knowledge learning.

- :class:`DocumentFiles`: an explicit list of JSON-lines files (decision D6: never "every file in
  a folder") read lazily: one pass records each line's byte offset, then a document is read when
  it is indexed. A full Wikipedia snapshot (the TemporalWiki Mix-review replay set) therefore needs
  a few bytes of memory per document instead of its whole text.
- :func:`load_twiki_diffset`: one TemporalWiki training diffset from a folder holding either the
  filtered JSON lines ``diffset_<d>_filtered.jsonl`` (the reference's names) or the raw TWiki CSV
  ``wikipedia_<d>_gpt2.csv``, which is filtered on load (spec §7).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np

from ..errors import DataError
from .temporalwiki import TWIKI_DIFFSETS, filter_diffset_csv, read_documents


class DocumentFiles(Sequence[dict[str, str]]):
    """Documents ``{"text": record[field]}`` of JSON-lines files, indexed once and read lazily.

    Every non-empty line must be a JSON object; its ``field`` is checked when it is read, and a bad
    line raises a :class:`DataError` naming its file and row.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], field: str = "text") -> None:
        if not paths:
            raise ValueError("DocumentFiles needs at least one file")
        self.paths = [Path(p) for p in paths]
        self.field = field
        files, offsets, rows = [], [], []
        for k, path in enumerate(self.paths):
            if not path.is_file():
                raise DataError("document file not found", path)
            with path.open("rb") as f:
                pos = 0
                for row, line in enumerate(f):
                    if line.strip():
                        files.append(k)
                        offsets.append(pos)
                        rows.append(row)
                    pos += len(line)
        if not offsets:
            raise DataError("no documents in " + ", ".join(str(p) for p in self.paths))
        self._file = np.asarray(files, dtype=np.int32)
        self._offset = np.asarray(offsets, dtype=np.int64)
        self._row = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._offset.shape[0])

    @overload
    def __getitem__(self, index: int) -> dict[str, str]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, str]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, str] | list[dict[str, str]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"document {index} out of range ({len(self)} documents)")
        path, row = self.paths[int(self._file[i])], int(self._row[i])
        with path.open("rb") as f:
            f.seek(int(self._offset[i]))
            line = f.readline()
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DataError(f"invalid JSON ({err})", path, row) from err
        value = obj.get(self.field) if isinstance(obj, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"field {self.field!r} must be a non-empty string", path, row)
        return {"text": value}


def twiki_diffset_candidates(folder: str | os.PathLike[str], diffset: str) -> list[Path]:
    folder = Path(folder)
    return [folder / f"diffset_{diffset}_filtered.jsonl", folder / f"wikipedia_{diffset}_gpt2.csv"]


def load_twiki_diffset(folder: str | os.PathLike[str], diffset: str) -> list[dict[str, str]]:
    """The filtered ``{"text"}`` documents of one TWiki diffset (``"0910"``, ``"1011"``,
    ``"1112"``) from ``folder`` (see the module docstring for the accepted file names)."""
    if diffset not in TWIKI_DIFFSETS:
        raise ValueError(f"unknown TWiki diffset {diffset!r}; known: {TWIKI_DIFFSETS}")
    jsonl, csv_path = twiki_diffset_candidates(folder, diffset)
    if jsonl.is_file():
        docs = [{"text": t} for t in read_documents(jsonl)]
    elif csv_path.is_file():
        docs = filter_diffset_csv(csv_path)
    else:
        raise DataError(
            f"TemporalWiki diffset {diffset} not found: expected {jsonl.name} (filtered JSON "
            f"lines) or {csv_path.name} (the TWiki CSV)",
            folder,
        )
    if not docs:
        raise DataError(f"diffset {diffset} holds no document after filtering", folder)
    return docs
