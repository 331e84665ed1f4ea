"""The common second half of the O-LoRA and N-LoRA recipes: once an app has its data, model,
method and the paper's per-task table, encode the tasks, train them in order and write the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cl_eval import exact_match
from cl_methods import ContinualTrainer, Method

from . import config, run_folder
from .recipe import (
    accumulation,
    generation_evaluator,
    hardware,
    make_encoder,
    precision,
    task_update_analysis,
    train_tasks,
    trainer_settings,
)
from .report import write_run_report

#: printed after a smoke run: its numbers are no evidence about the method
SMOKE_NOTE = (
    "Note: the smoke model is a randomly initialised tiny T5 or LLaMA; its numbers show the "
    "pipeline runs, not that the method works. The efficacy study (pretrained MiniLM, real data) "
    "is in results/efficacy/README.md (README: 'Does it work?')."
)


@dataclass
class LoRARecipe:
    """What the app settled before training (``label`` names the paper in the output)."""

    label: str
    cfg: Any
    model: torch.nn.Module
    tokenizer: Any
    method: Method
    causal_lm: bool
    model_name: str
    stream: Any
    data_source: str
    per_task: list[dict[str, Any]]
    global_batch: int
    per_device: int


def train_and_report(r: LoRARecipe) -> int:
    """Train every task (resuming when asked), then write R, AP, BWT, the heatmap and the
    task-update analysis of the stacked adapters into ``cfg.output_dir``."""
    cfg, names = r.cfg, list(r.stream.names)
    # Trainer: encoded tasks, AdamW, greedy generation scored by exact match
    encoder = make_encoder(r.tokenizer, r.causal_lm, cfg)
    tasks = train_tasks(r.stream, encoder, r.per_task)
    trainer_cfg = trainer_settings(
        cfg,
        epochs=r.per_task[0]["epochs"],
        lr=r.per_task[0]["lr"],
        batch_size=r.per_device,
        grad_accum=accumulation(r.global_batch, r.per_device),
        weight_decay=cfg.weight_decay,
        lr_scheduler=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps,
        mixed_precision=precision(cfg.precision, r.causal_lm),
        eval_future=cfg.eval_future,
        eval_before_training=cfg.eval_before,
    )
    evaluate = generation_evaluator(
        encoder, r.tokenizer, exact_match, max_new_tokens=cfg.max_new_tokens,
        batch_size=cfg.eval_batch_size, progress=cfg.progress,
    )  # fmt: skip
    trainer = ContinualTrainer(r.model, r.method, trainer_cfg, evaluate=evaluate)
    run_folder.save(cfg, cfg.output_dir)
    print(
        f"{r.label}: method {r.method.name}, model {r.model_name}, order {cfg.order} "
        f"({', '.join(names)}), data {r.data_source}, global batch {r.global_batch} = "
        f"{r.per_device} x {trainer_cfg.grad_accum} x {trainer.accelerator.num_processes}, "
        f"output {cfg.output_dir}",
        flush=True,
    )
    result = trainer.fit(tasks, resume=cfg.resume)
    if not trainer.accelerator.is_main_process:
        return 0
    title = f"{r.label} order {cfg.order} {r.method.name}"
    analysis = None
    if cfg.analysis:
        analysis = task_update_analysis(
            trainer.model, names, trainer.output_dir, cfg.plot, f"{title}: task updates"
        )
    write_run_report(
        result,
        cfg.output_dir,
        name=title + ("-smoke" if cfg.preset == "smoke" else ""),
        config={
            "run": config.plain(cfg),
            "model": r.model_name,
            "data": r.data_source,
            "tasks": names,
            "task_params": r.per_task,
            "method": {"name": r.method.name, **r.method.config.to_dict()},
            "trainer": trainer_cfg.to_dict(),
        },
        hardware=hardware(trainer, r.global_batch),
        plot=cfg.plot,
        extra={"task_update_analysis": analysis} if analysis is not None else None,
    )
    if cfg.preset == "smoke":
        print(SMOKE_NOTE, flush=True)
    return 0
