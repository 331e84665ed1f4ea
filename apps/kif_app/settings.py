"""Recurrent-KIF's published hyperparameters (spec recurrent-kif.md section 8) and the smoke
preset. Values a user did not set on the command line come from here."""

from __future__ import annotations

from typing import Any

# T5-large / Flan-T5-XL (fp32). Global batch 8 = 2 x 4.
T5 = {
    "epochs": 10,
    "lr": 3e-4,
    "lr_scheduler": "linear",
    "warmup_steps": 50,
    "per_device_batch": 2,
    "grad_accum": 4,
    "max_source_length": 1024,
    "max_target_length": 128,
    "cutoff_len": 512,
    "max_new_tokens": 128,
    "eval_batch_size": 32,
    "outer_batch_size": 8,
    "precision": "fp32",
}

# LLaMA-2 7B / 13B chat: int8 base + fp16 autocast (bf16 accepted). Global batch 64 = 16 x 4.
LLAMA = {
    **T5,
    "per_device_batch": 16,
    "grad_accum": 4,
    "outer_batch_size": 64,
    "precision": "fp16",
    "eval_batch_size": 16,
}

# Smoke: a tiny random T5 with the byte tokenizer on the first tasks of an order, small samples.
SMOKE = {
    "order": 4,
    "num_tasks": 3,
    "max_train_samples": 64,
    "max_test_samples": 8,
    "epochs": 5,
    "lr": 2e-2,
    "lr_scheduler": "linear",
    "warmup_steps": 2,
    "per_device_batch": 8,
    "grad_accum": 1,
    "max_source_length": 192,
    "max_target_length": 16,
    "max_new_tokens": 12,
    "eval_batch_size": 8,
    "outer_batch_size": 4,
    "inner_iterations": 3,
    "outer_iterations": 2,
    "precision": "fp32",
}


def paper_settings(causal_lm: bool, smoke: bool) -> dict[str, Any]:
    if smoke:
        return dict(SMOKE)
    return dict(LLAMA if causal_lm else T5)
