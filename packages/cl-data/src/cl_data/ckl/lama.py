"""LAMA-ckl: TO-LEARN (``variant.jsonl``) and NOT-TO-FORGET (``invariant_*.jsonl``) sets (spec §7).

Every record is validated when it is read: the fields and their types, the schematic probe string
(exact), the evidence being the masked evidence with its single ``[MASK]`` filled by the object,
``evidence_length`` and ``position``, and the object occurring in both probes (decision D7). Given
a tokenizer, the object must also be found at token level in both probes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..paths import shared_data_root
from .jsonl import iter_jsonl, require_str, write_jsonl
from .object_finder import ObjectNotFoundError, locate_object
from .probes import schematic_probe

MASK = "[MASK]"
SCORE_MODELS = ("llama_7b", "llama_1b", "llama_7b_kadapter", "llama_1b_kadapter")
PROBE_KINDS = ("descriptive", "schematic")

#: role -> (file name, probe field evaluated, invariant flag)
LAMA_CKL_FILES: dict[str, tuple[str, str, bool]] = {
    "to_learn": ("variant.jsonl", "task_descriptive", False),
    "nf_descriptive": ("invariant_descriptive.jsonl", "task_descriptive", True),
    "nf_schematic": ("invariant_schematic.jsonl", "task_schematic", True),
}
LAMA_CKL_SIZE = 500


@dataclass
class LamaCklRecord:
    """One LAMA-ckl fact with its evidence sentence and both probes."""

    relation_code: str
    uuid: str
    subject: str
    relation_label: str
    object: str
    task_descriptive: str
    task_schematic: str
    masked_evidence: str
    evidence: str
    position: float
    evidence_length: int
    invariant: bool
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def probe(self, kind: str) -> str:
        """The ``"descriptive"`` or ``"schematic"`` probe."""
        if kind not in PROBE_KINDS:
            raise ValueError(f"probe kind must be one of {PROBE_KINDS}, got {kind!r}")
        return self.task_descriptive if kind == "descriptive" else self.task_schematic

    def to_dict(self) -> dict[str, Any]:
        """The record in the released field order."""
        return {
            "relation_code": self.relation_code,
            "uuid": self.uuid,
            "task_descriptive": self.task_descriptive,
            "task_schematic": self.task_schematic,
            "subject": self.subject,
            "relation_label": self.relation_label,
            "object": self.object,
            "masked_evidence": self.masked_evidence,
            "evidence": self.evidence,
            "position": self.position,
            "evidence_length": self.evidence_length,
            "invariant": self.invariant,
            "scores": self.scores,
        }


@dataclass
class LamaCkl:
    """The three released LAMA-ckl sets."""

    to_learn: list[LamaCklRecord]
    nf_descriptive: list[LamaCklRecord]
    nf_schematic: list[LamaCklRecord]

    @property
    def not_to_forget(self) -> list[LamaCklRecord]:
        """The NOT-TO-FORGET set of the paper's table (descriptive probes)."""
        return self.nf_descriptive


def _check_scores(scores: Any, path: Path, row: int) -> dict[str, dict[str, float]]:
    if not isinstance(scores, dict):
        raise DataError(f"field 'scores' must be an object, got {scores!r}", path, row)
    out: dict[str, dict[str, float]] = {}
    for kind, per_model in scores.items():
        if not isinstance(per_model, dict):
            raise DataError(f"scores[{kind!r}] must be an object", path, row)
        for model, value in per_model.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DataError(f"scores[{kind!r}][{model!r}] must be a number", path, row)
            if not 0.0 <= float(value) <= 1.0 or math.isnan(float(value)):
                raise DataError(f"scores[{kind!r}][{model!r}]={value} is not in [0, 1]", path, row)
        out[kind] = {m: float(v) for m, v in per_model.items()}
    return out


def record_from_dict(obj: dict[str, Any], path: Path, row: int) -> LamaCklRecord:
    """Build and validate one record (structure and strings only; no tokenizer)."""
    s = {
        k: require_str(obj, k, path, row)
        for k in (
            "relation_code",
            "uuid",
            "subject",
            "relation_label",
            "object",
            "task_descriptive",
            "task_schematic",
            "masked_evidence",
            "evidence",
        )
    }
    invariant = obj.get("invariant")
    if not isinstance(invariant, bool):
        raise DataError(f"field 'invariant' must be true/false, got {invariant!r}", path, row)
    length = obj.get("evidence_length")
    if isinstance(length, bool) or not isinstance(length, int):
        raise DataError(f"field 'evidence_length' must be an integer, got {length!r}", path, row)
    position = obj.get("position")
    if isinstance(position, bool) or not isinstance(position, (int, float)):
        raise DataError(f"field 'position' must be a number, got {position!r}", path, row)
    rec = LamaCklRecord(
        **s,
        position=float(position),
        evidence_length=length,
        invariant=invariant,
        scores=_check_scores(obj.get("scores", {}), path, row),
    )
    expected = schematic_probe(rec.subject, rec.relation_label, rec.object)
    if rec.task_schematic != expected:
        raise DataError(
            f"task_schematic {rec.task_schematic!r} differs from the exact format {expected!r}",
            path,
            row,
        )
    if rec.masked_evidence.count(MASK) != 1:
        raise DataError("masked_evidence must contain exactly one [MASK]", path, row)
    if rec.evidence != rec.masked_evidence.replace(MASK, rec.object):
        raise DataError(
            "evidence is not masked_evidence with [MASK] filled by the object", path, row
        )
    if rec.evidence_length != len(rec.evidence):
        raise DataError(
            f"evidence_length {rec.evidence_length} != len(evidence) {len(rec.evidence)}", path, row
        )
    expected_pos = rec.masked_evidence.index(MASK) / len(rec.masked_evidence)
    if abs(rec.position - expected_pos) > 1e-9:
        raise DataError(
            f"position {rec.position} != [MASK] offset / len(masked_evidence) = {expected_pos}",
            path,
            row,
        )
    for kind in PROBE_KINDS:
        if rec.object not in rec.probe(kind):
            raise DataError(f"object {rec.object!r} does not occur in the {kind} probe", path, row)
    return rec


def check_probe_tokens(rec: LamaCklRecord, tokenizer: Any, path: Path, row: int) -> None:
    """Raise a DataError (from ObjectNotFoundError) unless the object is found at token level in
    both probes, tokenised as the evaluation does (with special tokens)."""
    for kind in PROBE_KINDS:
        text = rec.probe(kind)
        try:
            locate_object(tokenizer, tokenizer(text)["input_ids"], rec.object, text)
        except ObjectNotFoundError as err:
            raise DataError(f"{kind} probe: {err}", path, row) from err


def read_lama_ckl_file(
    path: str | os.PathLike[str],
    *,
    invariant: bool | None = None,
    tokenizer: Any = None,
    expected_rows: int | None = None,
) -> list[LamaCklRecord]:
    """Read and validate one LAMA-ckl JSON-lines file.

    invariant: when given, every record's ``invariant`` flag must equal it.
    tokenizer: when given, the object must be found at token level in both probes.
    expected_rows: when given, the file must hold exactly that many records.
    """
    path = Path(path)
    records: list[LamaCklRecord] = []
    seen: dict[str, int] = {}
    for row, obj in iter_jsonl(path):
        rec = record_from_dict(obj, path, row)
        if invariant is not None and rec.invariant != invariant:
            raise DataError(
                f"record has invariant={rec.invariant}, expected {invariant}", path, row
            )
        if rec.uuid in seen:
            raise DataError(
                f"duplicate uuid {rec.uuid!r} (first at row {seen[rec.uuid]})", path, row
            )
        seen[rec.uuid] = row
        if tokenizer is not None:
            check_probe_tokens(rec, tokenizer, path, row)
        records.append(rec)
    if expected_rows is not None and len(records) != expected_rows:
        raise DataError(f"expected {expected_rows} records, found {len(records)}", path)
    return records


def lama_ckl_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The LAMA-ckl folder: ``root`` itself, else ``<shared data>/taalm/LAMA_ckl``."""
    return Path(root) if root is not None else shared_data_root() / "taalm" / "LAMA_ckl"


def load_lama_ckl(
    root: str | os.PathLike[str] | None = None,
    *,
    tokenizer: Any = None,
    expected_rows: int | None = LAMA_CKL_SIZE,
) -> LamaCkl:
    """Load and validate the three LAMA-ckl files from ``root`` (default: the shared data)."""
    folder = lama_ckl_dir(root)
    sets = {
        role: read_lama_ckl_file(
            folder / name, invariant=inv, tokenizer=tokenizer, expected_rows=expected_rows
        )
        for role, (name, _, inv) in LAMA_CKL_FILES.items()
    }
    return LamaCkl(**sets)


def write_lama_ckl_file(records: Iterable[LamaCklRecord], path: str | os.PathLike[str]) -> Path:
    return write_jsonl((r.to_dict() for r in records), path)
