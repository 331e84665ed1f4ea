"""The benchmarks as the continual trainer sees them: training documents, a collate, probe sets.

Training examples are ``{"text", "object", "id"}`` dicts (``object`` only where the oracle needs
it); replay documents are ``{"text"}``. Probes are tokenised once with their object's prediction
indices (spec §8 object finder; a probe whose object is not found raises, decision D7, except in
the smoke preset, which keeps the first probes that work with its tiny tokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from common.config import ConfigError

from cl_data.ckl import (
    TWIKI_DIFFSETS,
    TWIKI_PERIODS,
    DocumentFiles,
    LamaCklRecord,
    ObjectNotFoundError,
    load_twiki_diffset,
    load_twiki_probes,
    object_target_mask,
    read_lama_ckl_file,
    smoke_twiki_diffsets,
    smoke_twiki_replay,
)
from cl_data.errors import DataError
from cl_methods import TrainTask


class RecipeError(ConfigError):
    """A missing input the recipe cannot run without (the message says how to provide it)."""


@dataclass
class ProbeSet:
    """Tokenised probes: ``ids[i]`` with BOS, ``masks[i]`` over its len - 1 prediction positions."""

    name: str
    ids: list[list[int]]
    masks: list[list[int]]
    texts: list[str] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.ids)


def build_probes(
    name: str,
    tok: Any,
    items: Sequence[tuple[str, str, str]],
    limit: int | None,
    strict: bool,
) -> ProbeSet:
    """Probes from (text, object, where) triples; ``where`` names the record in errors."""
    out = ProbeSet(name, [], [])
    for text, obj, where in items:
        if limit is not None and len(out) >= limit:
            break
        ids = tok(text)["input_ids"]
        try:
            mask = object_target_mask(tok, ids, obj, text)
        except ObjectNotFoundError as err:
            if strict:
                raise DataError(f"{name} probe: {err}", where) from err
            out.skipped += 1
            continue
        out.ids.append(list(ids))
        out.masks.append(mask)
        out.texts.append(text)
    if not out.ids:
        raise DataError(f"no usable {name} probe")
    return out


class Collator:
    """Right-padded ``input_ids``/``attention_mask`` (truncated to ``max_length`` tokens) and, for
    the oracle, ``object_mask``: 1 on the object's prediction indices in the evidence."""

    def __init__(self, tok: Any, max_length: int, object_mask: bool = False) -> None:
        self.tok, self.max_length, self.object_mask = tok, max_length, object_mask

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        enc = self.tok(
            [r["text"] for r in rows],
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if self.object_mask:
            batch["object_mask"] = self._object_mask(rows, enc["input_ids"], enc["attention_mask"])
        return batch

    def _object_mask(self, rows, ids: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(ids.shape[0], ids.shape[1] - 1)
        for i, row in enumerate(rows):
            n = int(attn[i].sum())
            try:
                mask = object_target_mask(self.tok, ids[i, :n], row["object"], row["text"])
            except ObjectNotFoundError as err:
                raise DataError(
                    f"oracle: evidence {row.get('id', i)}: {err} (after truncation to "
                    f"{self.max_length} tokens)"
                ) from err
            out[i, : n - 1] = torch.tensor(mask, dtype=out.dtype)
        return out


def check_oracle_examples(examples: Sequence[dict[str, Any]], collate: Collator) -> None:
    """Fail before training when an evidence does not contain its object (D7)."""
    for k in range(0, len(examples), 64):
        collate(list(examples[k : k + 64]))


# -- LAMA-ckl ---------------------------------------------------------------------------------
LAMA_FILES = {
    "descriptive": ("variant.jsonl", "invariant_descriptive.jsonl"),
    "schematic": ("variant.jsonl", "invariant_schematic.jsonl"),
}


@dataclass
class LamaCklData:
    task: TrainTask
    replay: Sequence[dict[str, str]] | None


def _lama_examples(
    records: list[LamaCklRecord],
    tok: Any,
    probe: str,
    oracle: bool,
    limit: int | None,
    strict: bool,
    max_length: int,
) -> tuple[list[dict[str, Any]], list[LamaCklRecord]]:
    """TO-LEARN training examples; outside ``strict`` mode only records whose probe (and, for the
    oracle, truncated evidence) the tokenizer can locate the object in."""
    examples, kept = [], []
    for r in records:
        if limit is not None and len(kept) >= limit:
            break
        if not strict:
            try:
                object_target_mask(tok, tok(r.probe(probe))["input_ids"], r.object)
                if oracle:
                    ids = tok(r.evidence, truncation=True, max_length=max_length)["input_ids"]
                    object_target_mask(tok, ids, r.object)
            except ObjectNotFoundError:
                continue
        examples.append({"text": r.evidence, "object": r.object, "id": r.uuid})
        kept.append(r)
    return examples, kept


def lama_ckl(
    data_dir: Path,
    tok: Any,
    *,
    probe: str,
    max_length: int,
    object_mask: bool,
    with_replay: bool,
    replay_files: Sequence[str],
    replay_field: str,
    limit_train: int | None,
    limit_probes: int | None,
    strict: bool,
) -> LamaCklData:
    """TO-LEARN: train on ``evidence`` of ``variant.jsonl``, evaluate its ``probe`` probes;
    NOT-TO-FORGET: the invariant file of that probe kind. Mix-review replays ``replay_field`` of
    ``replay_files`` (default: ``evidence`` of ``invariant_descriptive.jsonl``, as the paper)."""
    folder = data_dir / "LAMA_ckl"
    to_learn_name, nf_name = LAMA_FILES[probe]
    to_learn = read_lama_ckl_file(folder / to_learn_name, invariant=False)
    nf = read_lama_ckl_file(folder / nf_name, invariant=True)
    examples, kept = _lama_examples(
        to_learn, tok, probe, object_mask, limit_train, strict, max_length
    )
    collate = Collator(tok, max_length, object_mask=object_mask)
    if object_mask:
        check_oracle_examples(examples, collate)
    probes = {
        "to_learn": build_probes(
            "to_learn",
            tok,
            [(r.probe(probe), r.object, f"{folder / to_learn_name} uuid {r.uuid}") for r in kept],
            limit_probes,
            strict,
        ),
        "nf": build_probes(
            "nf",
            tok,
            [(r.probe(probe), r.object, f"{folder / nf_name} uuid {r.uuid}") for r in nf],
            limit_probes,
            strict,
        ),
    }
    replay = None
    if with_replay:
        files = list(replay_files) or [str(folder / "invariant_descriptive.jsonl")]
        replay = DocumentFiles(files, field=replay_field)
    task = TrainTask("lama_ckl", examples, collate, eval=probes)
    return LamaCklData(task, replay)


# -- TemporalWiki -----------------------------------------------------------------------------
@dataclass
class TwikiData:
    tasks: list[TrainTask]
    replay: Sequence[dict[str, str]] | None


def require_twiki_inputs(
    diffset_dir: str | None, with_replay: bool, replay_files: Sequence[str]
) -> None:
    """The TemporalWiki inputs the shared data lacks, with how to provide them."""
    if diffset_dir is None:
        raise RecipeError(
            "--twiki-diffset-dir is required for --benchmark temporalwiki: the TWiki training "
            "diffsets 0910, 1011 and 1112 are not in the shared data. Give a folder with "
            'diffset_<d>_filtered.jsonl (JSON lines {"text"}) or wikipedia_<d>_gpt2.csv (the '
            "TWiki CSV, filtered on load), or run --preset smoke"
        )
    if with_replay and not replay_files:
        raise RecipeError(
            "Replay on TemporalWiki needs --replay-files: the Aug-2021 Wikipedia snapshot "
            'it replays is not in the shared data (JSON lines with a "text" field; '
            "--replay-field names another field), or run --preset smoke"
        )


def temporalwiki(
    data_dir: Path,
    tok: Any,
    *,
    max_length: int,
    diffset_dir: str | None,
    smoke: bool,
    with_replay: bool,
    replay_files: Sequence[str],
    replay_field: str,
    limit_train: int | None,
    limit_probes: int | None,
) -> TwikiData:
    """Three periods in order, each trained on its diffset and evaluated on its changed and
    unchanged probes (schematic string). The smoke preset uses the documented stand-ins of
    ``cl_data.ckl.smoke`` when no diffset folder / replay file is given."""
    eval_dir = data_dir / "TemporalWiki" / "eval"
    if not smoke:
        require_twiki_inputs(diffset_dir, with_replay, replay_files)
    stand_ins = None
    if diffset_dir is None:
        stand_ins = smoke_twiki_diffsets(n_docs=limit_train or 16, root=eval_dir)
    tasks = []
    for period, diffset in zip(TWIKI_PERIODS, TWIKI_DIFFSETS):
        if stand_ins is not None:
            docs = stand_ins[diffset]
        else:
            assert diffset_dir is not None
            docs = load_twiki_diffset(diffset_dir, diffset)[:limit_train]
        probes = {}
        for kind in ("changed", "unchanged"):
            items = [
                (p.probe, p.object, f"{eval_dir / f'{period}_{kind}.jsonl'} row {i}")
                for i, p in enumerate(
                    load_twiki_probes(period, kind, eval_dir, check_size=not smoke)
                )
            ]
            probes[kind] = build_probes(kind, tok, items, limit_probes, strict=not smoke)
        tasks.append(TrainTask(period, docs, Collator(tok, max_length), eval=probes))
    replay = None
    if with_replay:
        if replay_files:
            replay = DocumentFiles(list(replay_files), field=replay_field)
        else:
            replay = smoke_twiki_replay(n_docs=limit_train or 16, root=eval_dir)
    return TwikiData(tasks, replay)


def smoke_texts(data_dir: Path, limit: int) -> list[str]:
    """Texts a smoke tokenizer is trained on when no Train-Attention checkpoint brings one."""
    folder = data_dir / "LAMA_ckl"
    texts: list[str] = []
    for name in ("variant.jsonl", "invariant_descriptive.jsonl", "invariant_schematic.jsonl"):
        for r in read_lama_ckl_file(folder / name)[: 4 * limit]:
            texts += [r.evidence, r.task_descriptive, r.task_schematic]
    eval_dir = data_dir / "TemporalWiki" / "eval"
    for period in TWIKI_PERIODS:
        for kind in ("changed", "unchanged"):
            probes = load_twiki_probes(period, kind, eval_dir, check_size=False)
            texts += [p.probe for p in probes[: 4 * limit]] + [
                p.probe for p in probes[-8 * limit :]
            ]
    return texts
