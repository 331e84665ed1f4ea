"""A tiny regression model with ``q``/``v`` Linear layers (LoRA targets) and hand-made tasks,
for exercising Recurrent-KIF's hooks under the trainer or a hand-written loop."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from cl_methods import ContinualTrainer, TrainerConfig, TrainTask, build_method


class TinyModel(nn.Module):
    def __init__(self, d: int = 6, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.q = nn.Linear(d, d)
        self.v = nn.Linear(d, 2)

    def forward(self, input_ids, labels=None, **_):
        out = self.v(torch.tanh(self.q(input_ids)))
        loss = None if labels is None else ((out - labels) ** 2).mean()
        return SimpleNamespace(loss=loss, logits=out)


def collate(rows):
    return {
        "input_ids": torch.stack([r["x"] for r in rows]),
        "labels": torch.stack([r["y"] for r in rows]),
    }


def task_rows(task: int, n: int = 100, d: int = 6) -> list[dict]:
    gen = torch.Generator().manual_seed(100 + task)
    w = torch.randn(d, 2, generator=gen)
    rows = []
    for i in range(n):
        x = torch.randn(d, generator=gen)
        y = x @ w
        rows.append({"x": x, "y": y, "output": "pos" if y[0] > 0 else "neg", "id": f"{task}_{i}"})
    return rows


def tasks(k: int = 2, n: int = 100) -> list[TrainTask]:
    return [TrainTask(name=f"t{i}", train=task_rows(i, n), collate=collate) for i in range(k)]


def trainer_config(out, **kw) -> TrainerConfig:
    base = dict(
        output_dir=str(out),
        epochs=1,
        lr=1e-2,
        batch_size=5,
        grad_accum=2,
        progress=False,
        log_with=(),
        seed=3,
    )
    base.update(kw)
    return TrainerConfig(**base)


def kif(**overrides):
    options = {"dropout": 0.0, "r": 2, "outer_batch_size": 4, **overrides}
    return build_method("kif", options)


def run(out, method, k=2, n=100, model=None, **cfg):
    model = model or TinyModel()
    trainer = ContinualTrainer(model, method, trainer_config(out, **cfg))
    result = trainer.fit(tasks(k, n))
    return trainer, result
