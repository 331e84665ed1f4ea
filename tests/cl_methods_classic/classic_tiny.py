"""Tiny causal LM, toy two-task stream and trainer factory shared by the classic method tests."""

from __future__ import annotations

import random
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from cl_methods import ContinualTrainer, TrainerConfig, TrainTask

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
