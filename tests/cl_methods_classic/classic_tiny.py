"""Tiny causal LM, toy two-task stream and trainer factory shared by the classic method tests."""

from __future__ import annotations

import random
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

from cl_methods import ContinualTrainer, TrainerConfig, TrainTask
from cl_methods.classic import ClassifierModel, LabelSpace

VOCAB = 24


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(cfg)


def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(r["ids"]) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, r in enumerate(rows):
        n = len(r["ids"])
        ids[i, :n] = torch.tensor(r["ids"])
        mask[i, :n] = 1
        labels[i, 2:n] = ids[i, 2:n]  # loss on the answer tokens only
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def tasks(n: int = 6) -> list[TrainTask]:
    rng = random.Random(0)
    out = []
    for t, offset in enumerate((3, 11)):
        rows = []
        for _ in range(n):
            c = rng.randrange(4)
            rows.append({"ids": [1, offset + c, offset + 4 + c, 2], "label_idx_cil": 4 * t + c})
        out.append(TrainTask(name=f"task{t}", train=rows, collate=collate))
    return out


def heads_model(seed: int = 0, il_mode: str = "CIL") -> ClassifierModel:
    """A tiny BERT with two heads of 4 classes (the two toy tasks), CIL (or ``il_mode``)."""
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=24,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return ClassifierModel(BertModel(cfg), LabelSpace((4, 4)), il_mode=il_mode)


def heads_tasks() -> list[TrainTask]:
    """The toy stream with class labels (``label_idx_cil``) as ``labels``."""
    stream = tasks(8)
    for task in stream:
        inner = task.collate

        def collate(rows, inner=inner):
            batch = inner(rows)
            batch["labels"] = torch.tensor([r["label_idx_cil"] for r in rows])
            return batch

        task.collate = collate
    return stream


def trainer(model, method, tmp_path: Path, evaluate=None, **over) -> ContinualTrainer:
    cfg = dict(
        output_dir=str(tmp_path),
        epochs=2,
        lr=1e-2,
        batch_size=2,
        progress=False,
        log_with=(),
        seed=3,
        max_grad_norm=0.0,
    )
    cfg.update(over)
    return ContinualTrainer(model, method, TrainerConfig(**cfg), evaluate=evaluate)
