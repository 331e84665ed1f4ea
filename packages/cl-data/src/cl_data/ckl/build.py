"""Rebuild LAMA-ckl and its Train-Attention pool from a LAMA T-REx directory (spec §7 steps 1-7).

Input layout (the LAMA release): ``relations.jsonl`` (``relation``, ``label``, ``template``) and a
``TREx/`` folder of ``P<id>.jsonl`` files whose lines hold ``uuid``, ``sub_label``, ``obj_label``
and ``evidences`` (each with a ``masked_sentence``).

1. Relations are invariant or variant by fixed lists.
2. Relations in numeric order, facts in file order; the longest masked sentence is the evidence.
3. Both probes are scored by several models (any callables here, so the step is testable).
4. Filters by evidence length, subject and object in the evidence, and the mean scores.
5. P530 TO-LEARN candidates capped at the first 130.
6. ``Random(42).sample(candidates, 500)`` per set (what ``random.seed(42); random.sample`` does).
7. The TA pool: pool candidates outside the sampled TO-LEARN set, the first 350 P530 facts kept.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from .. import jsonio
from ..errors import DataError
from .jsonl import iter_jsonl, require_str
from .lama import MASK, PROBE_KINDS, LamaCklRecord, read_lama_ckl_file, write_lama_ckl_file
from .probes import descriptive_probe, schematic_probe

INVARIANT_RELATIONS = tuple(
    [
        "P19",
        "P20",
        "P279",
        "P37",
        "P449",
        "P47",
        "P138",
        "P364",
        "P527",
        "P176",
        "P27",
        "P407",
        "P30",
        "P178",
        "P1376",
        "P131",
        "P1412",
        "P17",
        "P276",
        "P937",
        "P140",
        "P103",
        "P190",
        "P1001",
        "P495",
        "P36",
        "P740",
        "P361",
    ]
)
VARIANT_RELATIONS = tuple(
    [
        "P31",
        "P39",
        "P101",
        "P106",
        "P108",
        "P127",
        "P136",
        "P159",
        "P264",
        "P413",
        "P463",
        "P530",
        "P1303",
    ]
)

#: scorer(probe_text, object) -> accuracy in [0, 1] of one model on one probe (spec §8)
Scorer = Callable[[str, str], float]


@dataclass(frozen=True)
class Relation:
    code: str
    label: str
    template: str


@dataclass
class LamaCklSplits:
    to_learn: list[LamaCklRecord]
    nf_descriptive: list[LamaCklRecord]
    nf_schematic: list[LamaCklRecord]
    ta_pool: list[LamaCklRecord]


def read_relations(path: str | os.PathLike[str]) -> dict[str, Relation]:
    """``relations.jsonl``: relation code -> label and template."""
    path = Path(path)
    out: dict[str, Relation] = {}
    for row, obj in iter_jsonl(path):
        code = require_str(obj, "relation", path, row)
        rel = Relation(
            code, require_str(obj, "label", path, row), require_str(obj, "template", path, row)
        )
        if "[X]" not in rel.template or "[Y]" not in rel.template:
            raise DataError(f"template {rel.template!r} lacks [X] or [Y]", path, row)
        out[code] = rel
    return out


def _relation_number(code: str, where: Path) -> int:
    if not (code.startswith("P") and code[1:].isdigit()):
        raise DataError(f"not a relation file name: {code!r}", where)
    return int(code[1:])


def trex_relation_files(trex_dir: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """(code, path) for every ``P<id>.jsonl`` in the folder, in numeric order."""
    trex_dir = Path(trex_dir)
    if not trex_dir.is_dir():
        raise DataError("T-REx folder not found", trex_dir)
    files = [(p.stem, p) for p in trex_dir.glob("*.jsonl")]
    files.sort(key=lambda cp: _relation_number(cp[0], cp[1]))
    if not files:
        raise DataError("no P<id>.jsonl files in the T-REx folder", trex_dir)
    return files


def candidate_records(
    trex_dir: str | os.PathLike[str], relations_path: str | os.PathLike[str]
) -> list[LamaCklRecord]:
    """Steps 1-2: one unscored record per T-REx fact."""
    relations = read_relations(relations_path)
    records: list[LamaCklRecord] = []
    for code, path in trex_relation_files(trex_dir):
        if code in INVARIANT_RELATIONS:
            invariant = True
        elif code in VARIANT_RELATIONS:
            invariant = False
        else:
            raise DataError(
                f"relation {code} is in neither the invariant nor the variant list", path
            )
        if code not in relations:
            raise DataError(f"relation {code} is missing from {relations_path}", path)
        rel = relations[code]
        for row, fact in iter_jsonl(path):
            subject = require_str(fact, "sub_label", path, row)
            obj = require_str(fact, "obj_label", path, row)
            uuid = require_str(fact, "uuid", path, row)
            evidences = fact.get("evidences")
            if not isinstance(evidences, list) or not evidences:
                raise DataError("field 'evidences' must be a non-empty list", path, row)
            sentences = []
            for i, ev in enumerate(evidences):
                if not isinstance(ev, dict) or not isinstance(ev.get("masked_sentence"), str):
                    raise DataError(f"evidences[{i}] lacks a string 'masked_sentence'", path, row)
                sentences.append(ev["masked_sentence"])
            masked = max(sentences, key=len)  # max() keeps the first of equally long sentences
            if MASK not in masked:
                raise DataError(f"the longest masked_sentence has no {MASK}: {masked!r}", path, row)
            evidence = masked.replace(MASK, obj)
            records.append(
                LamaCklRecord(
                    relation_code=code,
                    uuid=uuid,
                    subject=subject,
                    relation_label=rel.label,
                    object=obj,
                    task_descriptive=descriptive_probe(rel.template, subject, obj),
                    task_schematic=schematic_probe(subject, rel.label, obj),
                    masked_evidence=masked,
                    evidence=evidence,
                    position=masked.index(MASK) / len(masked),
                    evidence_length=len(evidence),
                    invariant=invariant,
                    scores={},
                )
            )
    return records


def score_records(
    records: Sequence[LamaCklRecord],
    scorers: Mapping[str, Scorer],
    cache_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> list[LamaCklRecord]:
    """Step 3: fill ``scores[kind][model]`` for both probes and every scorer.

    With ``cache_path`` the scored records are appended to that JSON-lines file as they are done,
    and a rerun continues after the last one written, so nothing is lost on interruption.
    """
    if not scorers:
        raise ValueError("score_records needs at least one scorer")
    done: list[LamaCklRecord] = []
    if cache_path is not None and Path(cache_path).is_file():
        done = read_lama_ckl_file(cache_path)
        for i, rec in enumerate(done):
            if i >= len(records) or rec.uuid != records[i].uuid:
                raise DataError(
                    f"row {i} does not match the candidates (uuid {rec.uuid}); delete the cache",
                    cache_path,
                )
    out = list(done)
    sink = None
    if cache_path is not None:
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        sink = open(cache_path, "a", encoding="utf-8")  # noqa: SIM115
    try:
        todo = records[len(done) :]
        for rec in tqdm(todo, desc="scoring probes", disable=not progress):
            scores = {
                kind: {name: float(fn(rec.probe(kind), rec.object)) for name, fn in scorers.items()}
                for kind in PROBE_KINDS
            }
            scored = LamaCklRecord(**{**rec.__dict__, "scores": scores})
            out.append(scored)
            if sink is not None:
                sink.write(jsonio.dumps(scored.to_dict(), ensure_ascii=False) + "\n")
                sink.flush()
    finally:
        if sink is not None:
            sink.close()
    return out


def _mean(values: Mapping[str, float], rec: LamaCklRecord, kind: str) -> float:
    if not values:
        raise ValueError(f"record {rec.uuid} has no {kind} scores; run score_records first")
    return sum(values.values()) / len(values)


def select_lama_ckl(
    records: Sequence[LamaCklRecord],
    *,
    sample_size: int = 500,
    seed: int = 42,
    min_evidence_length: int = 200,
    p530_to_learn_cap: int = 130,
    p530_pool_cap: int = 350,
) -> LamaCklSplits:
    """Steps 4-7 on scored records (in candidate order)."""
    nf_desc: list[LamaCklRecord] = []
    nf_schem: list[LamaCklRecord] = []
    to_learn: list[LamaCklRecord] = []
    pool: list[LamaCklRecord] = []
    for rec in records:
        if rec.evidence_length <= min_evidence_length:
            continue
        if rec.subject not in rec.evidence or rec.object not in rec.evidence:
            continue
        d = _mean(rec.scores.get("descriptive", {}), rec, "descriptive")
        s = _mean(rec.scores.get("schematic", {}), rec, "schematic")
        if rec.invariant:
            if d == 1:
                nf_desc.append(rec)
            if s == 1:
                nf_schem.append(rec)
        elif d == 0 and s == 0:
            to_learn.append(rec)
        if d < 0.5 and s < 0.5:
            pool.append(rec)

    p530 = 0
    capped: list[LamaCklRecord] = []
    for rec in to_learn:
        if rec.relation_code == "P530":
            p530 += 1
            if p530 > p530_to_learn_cap:
                continue
        capped.append(rec)

    def sample(name: str, items: list[LamaCklRecord]) -> list[LamaCklRecord]:
        if len(items) < sample_size:
            raise ValueError(
                f"only {len(items)} {name} candidates, fewer than sample_size={sample_size}"
            )
        return random.Random(seed).sample(items, sample_size)

    sampled_nf_desc = sample("NOT-TO-FORGET descriptive", nf_desc)
    sampled_nf_schem = sample("NOT-TO-FORGET schematic", nf_schem)
    sampled_to_learn = sample("TO-LEARN", capped)
    taken = {r.uuid for r in sampled_to_learn}
    ta_pool: list[LamaCklRecord] = []
    p530 = 0
    for rec in pool:
        if rec.uuid in taken:
            continue
        if rec.relation_code == "P530":
            p530 += 1
            if p530 > p530_pool_cap:
                continue
        ta_pool.append(rec)
    return LamaCklSplits(sampled_to_learn, sampled_nf_desc, sampled_nf_schem, ta_pool)


OUTPUT_FILES = {
    "to_learn": "variant.jsonl",
    "nf_descriptive": "invariant_descriptive.jsonl",
    "nf_schematic": "invariant_schematic.jsonl",
    "ta_pool": "train_attention_traindata.jsonl",
}


def build_lama_ckl(
    lama_dir: str | os.PathLike[str],
    scorers: Mapping[str, Scorer],
    out_dir: str | os.PathLike[str],
    *,
    sample_size: int = 500,
    progress: bool = True,
    **select_options: int,
) -> LamaCklSplits:
    """The whole pipeline: ``lama_dir`` holds ``relations.jsonl`` and ``TREx/``. Writes the three
    LAMA-ckl files and the TA pool to ``out_dir`` (scores cached in ``scored_candidates.jsonl``)."""
    lama_dir, out_dir = Path(lama_dir), Path(out_dir)
    candidates = candidate_records(lama_dir / "TREx", lama_dir / "relations.jsonl")
    scored = score_records(
        candidates, scorers, cache_path=out_dir / "scored_candidates.jsonl", progress=progress
    )
    splits = select_lama_ckl(scored, sample_size=sample_size, **select_options)
    for role, name in OUTPUT_FILES.items():
        write_lama_ckl_file(getattr(splits, role), out_dir / name)
    return splits


__all__ = [
    "INVARIANT_RELATIONS",
    "OUTPUT_FILES",
    "VARIANT_RELATIONS",
    "LamaCklSplits",
    "Relation",
    "Scorer",
    "build_lama_ckl",
    "candidate_records",
    "read_relations",
    "score_records",
    "select_lama_ckl",
    "trex_relation_files",
]
