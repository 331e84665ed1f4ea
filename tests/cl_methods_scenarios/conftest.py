"""Tiny models and data for the scenario/heads/seq/peft tests (random weights, no download)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

from cl_methods import ContinualTrainer, TrainerConfig, TrainTask
from cl_methods.classic import ClassifierModel, LabelSpace

VOCAB = 40
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # test modules share helpers (test_promptcl_resume imports them)
    sys.path.insert(0, HERE)


def tiny_bert(seed: int = 0) -> BertModel:
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertModel(cfg)


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    return LlamaForCausalLM(cfg)


def make_rows(space: LabelSpace, task: int, per_class: int, seed: int = 0) -> list[dict]:
    """Sequences whose tokens reveal the class: token 2 + 3*label repeated, plus noise."""
    rng = random.Random(seed * 100 + task)
    rows = []
    for y in range(space.pre_accum[task], space.accum[task]):
        for _ in range(per_class):
            ids = [2 + (3 * y) % (VOCAB - 3)] * 4 + [rng.randrange(2, VOCAB) for _ in range(3)]
            rows.append({"ids": ids, "label": y})
    rng.shuffle(rows)
    return rows


def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(r["ids"]) for r in rows)
    ids = torch.tensor([[0] * (width - len(r["ids"])) + r["ids"] for r in rows])
    mask = (ids != 0).long()
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": torch.tensor([r["label"] for r in rows]),
    }


def tasks_for(space: LabelSpace, per_class: int = 4, seed: int = 0) -> list[TrainTask]:
    out = []
    for t in range(space.num_tasks):
        task = TrainTask(name=f"t{t}", train=make_rows(space, t, per_class, seed), collate=collate)
        task.test = make_rows(space, t, 2, seed + 7)  # type: ignore[attr-defined]
        out.append(task)
    return out


def run(model, method, tasks, tmp_path, evaluate=None, **trainer_kw):
    cfg = TrainerConfig(
        output_dir=str(tmp_path),
        epochs=1,
        lr=1e-2,
        batch_size=4,
        seed=1,
        log_with=(),
        progress=False,
        max_grad_norm=0.0,
        **trainer_kw,
    )
    trainer = ContinualTrainer(model, method, cfg, evaluate=evaluate)
    return trainer, trainer.fit(tasks)


@pytest.fixture
def space() -> LabelSpace:
    return LabelSpace((2, 3))


@pytest.fixture
def bert_heads(space):
    def make(**kw) -> ClassifierModel:
        return ClassifierModel(tiny_bert(), space, **kw)

    return make


@pytest.fixture
def tiny():
    """The helpers above, for tests (the folder is not a package)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        bert=tiny_bert, llama=tiny_llama, rows=make_rows, collate=collate, tasks=tasks_for, run=run
    )
