"""TemporalWiki: filtered training diffsets and the per-period probes (spec §7).

Training uses the TWiki diffsets 0910, 1011 and 1112 (CSV files, text in column 0), paired in order
with the evaluation periods 0901-1001, 1001-1101 and 1101-1201, whose probes are
``{subject, relation, object}`` records asked with the schematic string.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..paths import shared_data_root
from .jsonl import iter_jsonl, require_str, write_jsonl
from .object_finder import ObjectNotFoundError, locate_object
from .probes import schematic_probe

TWIKI_PERIODS = ("0901-1001", "1001-1101", "1101-1201")
TWIKI_DIFFSETS = ("0910", "1011", "1112")
TWIKI_KINDS = ("changed", "unchanged")
#: released probe counts, period -> (changed, unchanged)
TWIKI_SIZES = {"0901-1001": (1732, 7090), "1001-1101": (1108, 7063), "1101-1201": (1701, 7043)}

MIN_CHARS = 50
MIN_LETTER_SHARE = 0.3


def keep_diffset_text(text: str) -> bool:
    """The diffset filter: at least 50 characters and an ASCII-letter share of at least 0.3
    (both measured on the raw cell, as the reference does)."""
    if len(text) < MIN_CHARS:
        return False
    letters = sum(1 for c in text if ("a" <= c <= "z") or ("A" <= c <= "Z"))
    return letters / len(text) >= MIN_LETTER_SHARE


def filter_diffset_rows(rows: Iterable[Sequence[str]]) -> list[dict[str, str]]:
    """Skip the header row, take column 0 of each row, keep ``{"text": stripped}`` if it passes."""
    out: list[dict[str, str]] = []
    it = iter(rows)
    next(it, None)
    for row in it:
        if not row:
            continue
        if keep_diffset_text(row[0]):
            out.append({"text": row[0].strip()})
    return out


def filter_diffset_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read a TWiki diffset CSV (e.g. ``wikipedia_0910_gpt2.csv``) and filter it."""
    path = Path(path)
    if not path.is_file():
        raise DataError("diffset CSV not found", path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return filter_diffset_rows(csv.reader(f))
    except (csv.Error, UnicodeDecodeError) as err:
        raise DataError(f"unreadable CSV ({err})", path) from err


def write_filtered_diffset(
    csv_path: str | os.PathLike[str], out_path: str | os.PathLike[str]
) -> int:
    """Filter a diffset CSV into ``{"text": ...}`` JSON lines; returns the number kept."""
    rows = filter_diffset_csv(csv_path)
    write_jsonl(rows, out_path)
    return len(rows)


def read_documents(path: str | os.PathLike[str], field: str = "text") -> list[str]:
    """The ``field`` of every line of a JSON-lines file (a filtered diffset, a replay snapshot)."""
    path = Path(path)
    return [require_str(obj, field, path, row) for row, obj in iter_jsonl(path)]


@dataclass(frozen=True)
class TwikiProbe:
    subject: str
    relation: str
    object: str

    @property
    def probe(self) -> str:
        return schematic_probe(self.subject, self.relation, self.object)


def twiki_eval_dir(root: str | os.PathLike[str] | None = None) -> Path:
    return (
        Path(root) if root is not None else shared_data_root() / "taalm" / "TemporalWiki" / "eval"
    )


def read_twiki_probes(path: str | os.PathLike[str], tokenizer: Any = None) -> list[TwikiProbe]:
    """Read and validate one probe file; with a tokenizer the object must be found in each probe."""
    path = Path(path)
    out: list[TwikiProbe] = []
    for row, obj in iter_jsonl(path):
        p = TwikiProbe(*(require_str(obj, k, path, row) for k in ("subject", "relation", "object")))
        if tokenizer is not None:
            try:
                locate_object(tokenizer, tokenizer(p.probe)["input_ids"], p.object, p.probe)
            except ObjectNotFoundError as err:
                raise DataError(str(err), path, row) from err
        out.append(p)
    return out


def load_twiki_probes(
    period: str,
    kind: str,
    root: str | os.PathLike[str] | None = None,
    tokenizer: Any = None,
    check_size: bool = True,
) -> list[TwikiProbe]:
    """Probes of one period (``"0901-1001"``...) and kind (``"changed"``/``"unchanged"``)."""
    if period not in TWIKI_PERIODS:
        raise ValueError(f"unknown TemporalWiki period {period!r}; known: {TWIKI_PERIODS}")
    if kind not in TWIKI_KINDS:
        raise ValueError(f"probe kind must be one of {TWIKI_KINDS}, got {kind!r}")
    path = twiki_eval_dir(root) / f"{period}_{kind}.jsonl"
    probes = read_twiki_probes(path, tokenizer)
    expected = TWIKI_SIZES[period][TWIKI_KINDS.index(kind)]
    if check_size and len(probes) != expected:
        raise DataError(f"expected {expected} probes, found {len(probes)}", path)
    return probes


def pair_documents_with_triples(
    documents: Iterable[str], triples: Sequence[TwikiProbe]
) -> list[dict[str, str]]:
    """Proposal for the (undistributed) TemporalWiki TA pool, unverified against the reference:
    pair each document with every probe triple whose subject and object both occur in it.
    Returns ``{text, subject, relation, object}`` records in document order."""
    out: list[dict[str, str]] = []
    for doc in documents:
        for t in triples:
            if t.subject in doc and t.object in doc:
                out.append(
                    {"text": doc, "subject": t.subject, "relation": t.relation, "object": t.object}
                )
    return out
