"""The Train-Attention training pool: documents, each with one probe whose object it teaches.

File format: JSON lines of ``{"text", "probe", "object"}`` plus optional ``subject``,
``relation`` and ``uuid``. The reader also accepts the two layouts of the reference: LAMA-ckl
records (``evidence``, ``task_schematic``, ``object``) and TemporalWiki records
(``text``, ``subject``, ``relation``, ``object``; the probe is the schematic string).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .jsonl import iter_jsonl, require_str, write_jsonl
from .lama import LamaCklRecord
from .object_finder import ObjectNotFoundError, locate_object
from .probes import schematic_probe


@dataclass(frozen=True)
class TAPoolRecord:
    text: str
    probe: str
    object: str
    subject: str = ""
    relation: str = ""
    uuid: str = ""


def ta_record_from_dict(obj: dict[str, Any], path: Path, row: int) -> TAPoolRecord:
    if "probe" in obj:
        rec = TAPoolRecord(
            text=require_str(obj, "text", path, row),
            probe=require_str(obj, "probe", path, row),
            object=require_str(obj, "object", path, row),
            subject=str(obj.get("subject", "")),
            relation=str(obj.get("relation", "")),
            uuid=str(obj.get("uuid", "")),
        )
    elif "evidence" in obj and "task_schematic" in obj:
        rec = TAPoolRecord(
            text=require_str(obj, "evidence", path, row),
            probe=require_str(obj, "task_schematic", path, row),
            object=require_str(obj, "object", path, row),
            subject=str(obj.get("subject", "")),
            relation=str(obj.get("relation_label", "")),
            uuid=str(obj.get("uuid", "")),
        )
    elif {"text", "subject", "relation", "object"} <= set(obj):
        subject, relation, obj_ = (
            require_str(obj, k, path, row) for k in ("subject", "relation", "object")
        )
        rec = TAPoolRecord(
            text=require_str(obj, "text", path, row),
            probe=schematic_probe(subject, relation, obj_),
            object=obj_,
            subject=subject,
            relation=relation,
        )
    else:
        raise DataError(
            "a TA pool record needs text/probe/object, evidence/task_schematic/object or "
            f"text/subject/relation/object; got fields {sorted(obj)}",
            path,
            row,
        )
    if rec.object not in rec.probe:
        raise DataError(f"object {rec.object!r} does not occur in the probe", path, row)
    return rec


def read_ta_pool(path: str | os.PathLike[str], tokenizer: Any = None) -> list[TAPoolRecord]:
    """Read and validate a TA pool; with a tokenizer every probe's object must be found."""
    path = Path(path)
    out = []
    for row, obj in iter_jsonl(path):
        rec = ta_record_from_dict(obj, path, row)
        if tokenizer is not None:
            try:
                locate_object(tokenizer, tokenizer(rec.probe)["input_ids"], rec.object, rec.probe)
            except ObjectNotFoundError as err:
                raise DataError(str(err), path, row) from err
        out.append(rec)
    if not out:
        raise DataError("the TA pool is empty", path)
    return out


def write_ta_pool(records: Iterable[TAPoolRecord], path: str | os.PathLike[str]) -> Path:
    return write_jsonl((asdict(r) for r in records), path)


def ta_pool_from_lama(records: Iterable[LamaCklRecord]) -> list[TAPoolRecord]:
    """LAMA-ckl-style records -> pool records (evidence with the schematic probe)."""
    return [
        TAPoolRecord(r.evidence, r.task_schematic, r.object, r.subject, r.relation_label, r.uuid)
        for r in records
    ]


def split_ta_pool(
    records: Sequence[TAPoolRecord], n_val: int = 16, seed: int = 42
) -> tuple[list[TAPoolRecord], list[TAPoolRecord]]:
    """Seeded hold-out of ``n_val`` validation records, the same split as the reference's
    ``datasets.Dataset.train_test_split(test_size=n_val, seed=seed)``: a permutation from
    ``numpy.random.default_rng(seed)``; validation = its first n_val entries, training = the rest,
    both in permutation order."""
    if not 0 < n_val < len(records):
        raise ValueError(
            f"n_val={n_val} must be between 1 and the pool size - 1 ({len(records) - 1})"
        )
    perm = np.random.default_rng(seed).permutation(len(records)).tolist()
    return [records[i] for i in perm[n_val:]], [records[i] for i in perm[:n_val]]
