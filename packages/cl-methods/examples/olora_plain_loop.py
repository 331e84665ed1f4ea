"""O-LoRA inside a plain PyTorch loop, with nothing but cl-methods installed.

Two tiny tasks, a tiny T5 built from a config and a byte tokenizer (no download). The script
checks the method's defining behaviour and exits non-zero if any check fails:
  - the orthogonality penalty is exactly 0 on task 1 and positive on task 2;
  - task 1's adapter does not change while task 2 trains;
  - the merged export computes the same outputs as the adapted model.

Run: python olora_plain_loop.py [--steps 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

from cl_methods import TaskContext, build_method
from cl_methods.adapters import load_peft_adapter, merge_stacked_lora, save_peft_adapter

TASKS = {
    "sentiment": [("great film", "good"), ("awful plot", "bad"), ("loved it", "good")],
    "topic": [("goal scored", "sport"), ("stocks fell", "business"), ("match won", "sport")],
}


def batch(tokenizer, pairs):
    enc = tokenizer([s for s, _ in pairs], padding=True, return_tensors="pt")
    labels = tokenizer([t for _, t in pairs], padding=True, return_tensors="pt").input_ids
    labels[labels == tokenizer.pad_token_id] = -100
    return {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "labels": labels}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    torch.manual_seed(0)
    tokenizer = ByT5Tokenizer()
    config = T5Config(
        vocab_size=tokenizer.vocab_size + 3,
        d_model=32,
        d_ff=64,
        d_kv=8,
        num_heads=4,
        num_layers=2,
        decoder_start_token_id=0,
    )
    model = T5ForConditionalGeneration(config)

    method = build_method("olora", {"lambda_1": 0.5, "lambda_2": 0.0})
    model = method.prepare(model)
    failures = []
    snapshot = None
    out_dir = Path(tempfile.mkdtemp(prefix="olora-plain-"))
    for index, (name, pairs) in enumerate(TASKS.items()):
        task = TaskContext(index=index, name=name)
        method.on_task_start(task, model)
        optimizer = torch.optim.AdamW(method.trainable_parameters(model), lr=1e-2)
        data = batch(tokenizer, pairs)
        first_penalty = None
        for _ in range(args.steps):
            loss = model(**data).loss
            penalty = method.penalty(model)
            if penalty is not None:
                first_penalty = penalty.item() if first_penalty is None else first_penalty
                loss = loss + penalty
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        print(f"task {index} ({name}): final loss {loss.item():.3f}, first penalty {first_penalty}")
        if index == 0 and first_penalty not in (None, 0.0):
            failures.append(f"penalty on task 1 should be 0, got {first_penalty}")
        if index == 1 and not (first_penalty or 0) > 0:
            failures.append("penalty on task 2 should be positive")
        if index == 1 and snapshot is not None:
            now = {n: p.clone() for n, p in model.state_dict().items() if "lora_A_old" in n}
            if any(not torch.equal(now[n], snapshot[n]) for n in snapshot):
                failures.append("task 1's adapter changed while task 2 trained")
        method.on_task_end(task, model)
        save_peft_adapter(model, out_dir / f"{index}_{name}", task=index)  # PEFT format
        snapshot = {n: p.clone() for n, p in model.state_dict().items() if "lora_A_old" in n}

    model.eval()
    probe = batch(tokenizer, TASKS["topic"])
    probe.pop("labels")
    probe["decoder_input_ids"] = probe["input_ids"][:, :4]
    reference = model(**probe).logits
    # Rebuild from the same base weights (same seed) and the saved per-task files, then merge.
    torch.manual_seed(0)
    fresh = method.prepare(T5ForConditionalGeneration(config))
    for index, name in enumerate(TASKS):
        load_peft_adapter(fresh, out_dir / f"{index}_{name}", into="stack")
    merged = merge_stacked_lora(fresh.eval())
    if not torch.allclose(merged(**probe).logits, reference, atol=1e-5, rtol=1e-4):
        failures.append("merged export differs from the adapted model")
    for failure in failures:
        print("FAILED:", failure)
    print("ok" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
