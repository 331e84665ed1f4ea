"""A toy continual stream for cl-methods tests: tiny T5, byte tokenizer, word -> label tasks.

Also runnable as a script (the resume-after-kill and multi-process tests launch it):
    python toy.py OUTPUT_DIR [--method olora] [--grad-accum 1] [--batch-size 4] [--resume] ...
"""

from __future__ import annotations

import argparse
import json
import random

import torch
from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

from cl_methods import (
    ContinualTrainer,
    GenerationEvaluator,
    TrainerConfig,
    TrainTask,
    build_method,
)

TOKENIZER = ByT5Tokenizer()
WORDS = {
    "colors": (["red", "blue", "green"], ["warm", "cool", "cool"]),
    "animals": (["cat", "dog", "cow"], ["pet", "pet", "farm"]),
}


def tiny_t5(seed: int = 0, dropout: float = 0.0) -> T5ForConditionalGeneration:
    torch.manual_seed(seed)
    cfg = T5Config(
        vocab_size=TOKENIZER.vocab_size + 3,
        d_model=32,
        d_ff=64,
        d_kv=8,
        num_heads=4,
        num_layers=2,
        num_decoder_layers=2,
        dropout_rate=dropout,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    return T5ForConditionalGeneration(cfg)


def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    enc = TOKENIZER([r["source"] for r in rows], padding=True, return_tensors="pt")
    lab = TOKENIZER([r["target"] for r in rows], padding=True, return_tensors="pt").input_ids
    lab[lab == TOKENIZER.pad_token_id] = -100
    return {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "labels": lab}


def make_batch(rows: list[dict]) -> tuple[dict[str, torch.Tensor], list[str]]:
    enc = TOKENIZER([r["source"] for r in rows], padding=True, return_tensors="pt")
    return {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask}, [
        r["target"] for r in rows
    ]


def toy_tasks(n_train: int = 24, seed: int = 0) -> list[TrainTask]:
    rng = random.Random(seed)
    tasks = []
    for name, (words, labels) in WORDS.items():
        rows = []
        for _ in range(n_train):
            k = rng.randrange(len(words))
            rows.append({"source": f"{name}: {words[k]}", "target": labels[k]})
        task = TrainTask(name=name, train=rows, collate=collate)
        task.test = [{"source": f"{name}: {w}", "target": lab} for w, lab in zip(words, labels)]
        tasks.append(task)
    return tasks


def evaluator(max_new_tokens: int = 6) -> GenerationEvaluator:
    return GenerationEvaluator(
        tokenizer=TOKENIZER,
        make_batch=make_batch,
        match=lambda p, g: p.strip().lower() == g.strip().lower(),
        max_new_tokens=max_new_tokens,
        batch_size=8,
        progress=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("output_dir")
    ap.add_argument("--method", default="olora")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    method = build_method(args.method, {"dropout": args.dropout})
    cfg = TrainerConfig(
        output_dir=args.output_dir,
        epochs=args.epochs,
        lr=5e-3,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        checkpoint_every=args.checkpoint_every,
        progress=False,
        log_with=(),
        seed=7,
    )
    trainer = ContinualTrainer(tiny_t5(), method, cfg, evaluate=evaluator())
    result = trainer.fit(toy_tasks(), resume=args.resume)
    if trainer.accelerator.is_main_process:
        print("RESULT " + json.dumps(result.matrix))


if __name__ == "__main__":
    main()
