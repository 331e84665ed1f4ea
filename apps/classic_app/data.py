"""Tasks of a classic run: continual data -> rows -> per-task train/test lists + collators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cl_data.causal_lm import CausalLMEncoder
from cl_data.classic import (
    LABELLED_DATASETS,
    ContinualConfig,
    answer_text,
    build_concept1k,
    build_labelled_dataset,
    build_prompt,
    build_topic3,
    read_continual_dataset,
    split_rows,
)
from cl_data.paths import shared_data_root


@dataclass
class ClassicTask:
    """A task for the ContinualTrainer: ``train`` rows, ``test`` rows (R) and ``train_eval`` rows
    (the memorisation split of IIL, R_train)."""

    name: str
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    train_eval: list[dict[str, Any]] = field(default_factory=list)
    collate: Callable[[list[Any]], dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)


def load_continual(data: Any):
    """(continual data, config) for ``data.name``: topic3, concept_1k, clinc150, banking77,
    fewrel, tacred (``data.dir``: their folder; the shared copy for clinc150/banking77) or dir."""
    if data.name == "topic3":
        return build_topic3(
            shared_data_root() / "CL_Benchmark",
            seed=data.seed,
            train_per_class=data.train_per_class,
            dev_per_class=0,
            test_per_class=data.test_per_class,
        )
    if data.name == "concept_1k":
        path = Path(data.dir) / "dataset.txt" if data.dir else None
        return build_concept1k(path, num_task=data.concept_num_tasks, seed=data.seed)
    if data.name in LABELLED_DATASETS:
        return build_labelled_dataset(
            data.name,
            data.dir,
            seed=data.seed,
            train_per_class=data.train_per_class,
            test_per_class=data.test_per_class,
        )
    return read_continual_dataset(data.dir)


def _cap(rows: list[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    return rows if n is None else rows[: int(n)]


def build_tasks(data_cfg: Any) -> tuple[list[ClassicTask], ContinualConfig]:
    data, config = load_continual(data_cfg)
    count = len(data) if data_cfg.num_tasks is None else data_cfg.num_tasks
    tasks = []
    for t in sorted(data)[:count]:
        train = _cap(split_rows(data[t]["train"]), data_cfg.max_train_per_task)
        test = _cap(split_rows(data[t]["test"]), data_cfg.max_test_per_task)
        train_eval = _cap(train, data_cfg.max_train_eval_per_task)
        tasks.append(ClassicTask(name=f"task{t}", train=train, test=test, train_eval=train_eval))
    return tasks, config


@dataclass
class ClassifierCollator:
    """Tokenise prompted inputs for a backbone with heads; ``labels`` = global (CIL) labels.
    Encoders pad on the right; generative backbones on the left (pad = eos), cut from the left."""

    tokenizer: Any
    prompt: str = "none"
    max_length: int = 128
    generative: bool = False

    def inputs(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        if self.generative:
            tok.padding_side, tok.truncation_side = "left", "left"
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
        texts = [build_prompt(self.prompt, r["input"]) for r in rows]
        enc = tok(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {
            k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")
        }

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.inputs(rows)
        batch["labels"] = torch.tensor([int(r["label_idx_cil"]) for r in rows])
        return batch


def icl_prompt(prompt: str, demos: Any, query: str) -> str:
    """In-context prompt: each demonstration as it is trained (``prompt(x) + " " + y``), then
    the query's prompt, separated by blank lines; no demonstrations gives the plain prompt."""
    shots = [build_prompt(prompt, d["input"]) + answer_text(d["target"]) for d in demos]
    return "\n\n".join([*shots, build_prompt(prompt, query)])


@dataclass
class LMCollator:
    """Causal-LM batches: ``prompt + " y" + eos``, loss on ``" y" eos`` only, left padding,
    over-long prompts cut from the left (spec §0)."""

    tokenizer: Any
    prompt: str = "default"
    max_length: int = 128
    max_target_length: int = 16

    def __post_init__(self) -> None:
        self.encoder = CausalLMEncoder(
            self.tokenizer,
            max_source_length=self.max_length,
            max_target_length=self.max_target_length,
            max_length=self.max_length,
            truncation_side="left",
            train_padding_side="left",
            add_bos=False,
        )

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        feats = [
            self.encoder.encode(build_prompt(self.prompt, r["input"]), answer_text(r["target"]))
            for r in rows
        ]
        return self.encoder.collate(feats)

    def generation_batch(self, rows: list[dict[str, Any]]):
        """Left-padded prompts (``input_ids``, ``attention_mask``) and the gold targets; rows
        with ``demos`` (ICL) get them before the query (:func:`icl_prompt`)."""
        texts = [icl_prompt(self.prompt, r.get("demos", ()), r["input"]) for r in rows]
        ids = [self.encoder.prompt_ids(text) for text in texts]
        width = max(len(i) for i in ids)
        pad = self.encoder._pad
        input_ids = torch.tensor([[pad] * (width - len(i)) + i for i in ids])
        mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids])
        return {"input_ids": input_ids, "attention_mask": mask}, [r["target"] for r in rows]
