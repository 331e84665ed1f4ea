"""The O-LoRA and N-LoRA recipe, shared: an app brings its configuration and its paper's table
(per-task lr, epochs, lambdas and the batch); this loads the data and the model, attaches the
method, trains the tasks in order and writes the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cl_eval import exact_match
from cl_methods import ContinualTrainer, RunInfo, build_method

from . import config, run_folder
from .recipe import (
    accumulation,
    attach,
    generation_evaluator,
    hardware,
    load_benchmark,
    load_model,
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
class PaperTable:
    """The paper's settings for this run (a value set in the configuration already applied)."""

    per_task: list[dict[str, Any]]  # one dict per task: lr, epochs, lambdas
    global_batch: int
    per_device: int


#: (configuration, task names, causal LM?) -> the paper's settings for the run
TableFn = Callable[[Any, list[str], bool], PaperTable]


def run_lora_app(spec: config.AppSpec, argv: list[str] | None, label: str, table: TableFn) -> int:
    """The whole recipe of ``spec``'s app (``label`` names the paper in the output): train every
    task (resuming when asked), then write R, AP, BWT, the heatmap and the task-update analysis
    of the stacked adapters into ``cfg.output_dir``."""
    cfg = config.load(spec, argv)
    run_folder.claim(cfg, cfg.output_dir)

    # Data: the order's tasks (the embedded synthetic ones for the smoke preset)
    stream, data_source = load_benchmark(cfg)
    names = list(stream.names)

    # Model: frozen T5-large, or a causal LM (which gets the LLaMA settings)
    model, tokenizer, causal_lm, model_name = load_model(cfg, spec.prog)

    # Method: the paper's or a baseline, attached now so that a model it cannot adapt fails at once
    method = build_method(spec.methods[cfg.method], cfg.method_config)
    method.bind_run(RunInfo(num_tasks=len(names), task_names=tuple(names)))
    model = attach(method, model, model_name)

    paper = table(cfg, names, causal_lm)

    # Trainer: encoded tasks, AdamW, greedy generation scored by exact match
    encoder = make_encoder(tokenizer, causal_lm, cfg)
    tasks = train_tasks(stream, encoder, paper.per_task)
    trainer_cfg = trainer_settings(
        cfg,
        epochs=paper.per_task[0]["epochs"],
        lr=paper.per_task[0]["lr"],
        batch_size=paper.per_device,
        grad_accum=accumulation(paper.global_batch, paper.per_device),
        weight_decay=cfg.weight_decay,
        lr_scheduler=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps,
        mixed_precision=precision(cfg.precision, causal_lm),
        eval_future=cfg.eval_future,
        eval_before_training=cfg.eval_before,
    )
    evaluate = generation_evaluator(
        encoder, tokenizer, exact_match, max_new_tokens=cfg.max_new_tokens,
        batch_size=cfg.eval_batch_size, progress=cfg.progress,
    )  # fmt: skip
    trainer = ContinualTrainer(model, method, trainer_cfg, evaluate=evaluate)
    run_folder.save(cfg, cfg.output_dir)
    print(
        f"{label}: method {method.name}, model {model_name}, order {cfg.order} "
        f"({', '.join(names)}), data {data_source}, global batch {paper.global_batch} = "
        f"{paper.per_device} x {trainer_cfg.grad_accum} x {trainer.accelerator.num_processes}, "
        f"output {cfg.output_dir}",
        flush=True,
    )
    result = trainer.fit(tasks, resume=cfg.resume)
    if not trainer.accelerator.is_main_process:
        return 0
    title = f"{label} order {cfg.order} {method.name}"
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
            "model": model_name,
            "data": data_source,
            "tasks": names,
            "task_params": paper.per_task,
            "method": {"name": method.name, **method.config.to_dict()},
            "trainer": trainer_cfg.to_dict(),
        },
        hardware=hardware(trainer, paper.global_batch),
        plot=cfg.plot,
        extra={"task_update_analysis": analysis} if analysis is not None else None,
    )
    if cfg.preset == "smoke":
        print(SMOKE_NOTE, flush=True)
    return 0
