"""Steps the O-LoRA and N-LoRA recipes share (Recurrent-KIF uses the evaluator and the trainer
settings): the benchmark's tasks, the model, the encoder, the trainer settings, generation
scoring and the task-update analysis. Each is one short function; the recipes call them in order.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cl_data import CausalLMEncoder, Seq2SeqEncoder, load_stream, shared_data_root
from cl_data import synthetic_stream as synthetic
from cl_methods import GenerationEvaluator, Method, TrainerConfig, TrainTask

from .config import ConfigError
from .models import load_config, load_pretrained, tiny_llama, tiny_t5

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load_benchmark(cfg: Any):
    """(task stream, where it came from): the embedded synthetic tasks for the smoke preset,
    else the CL benchmark's order; sub-sampled (seeded) when asked."""
    if cfg.preset == "smoke" and cfg.data_dir is None:
        stream, source = synthetic(cfg.order, seed=cfg.seed), "synthetic"
    else:
        source = cfg.data_dir or str(shared_data_root() / "CL_Benchmark")
        stream = load_stream(cfg.order, source, drop_unlabelled=cfg.drop_unlabelled)
    limits = {"max_train_samples": cfg.max_train_samples, "max_test_samples": cfg.max_test_samples}
    if any(v is not None for v in limits.values()):
        stream = stream.subsample(**limits, seed=cfg.seed, balanced=cfg.balanced)
    return stream, source


def model_dtype(choice: str, causal_lm: bool) -> torch.dtype:
    if choice == "auto":
        return torch.bfloat16 if causal_lm and torch.cuda.is_available() else torch.float32
    return DTYPES[choice]


def load_model(cfg: Any, app: str, default: str = "t5-large"):
    """(model, tokenizer, causal_lm, name): the smoke preset's tiny model, or a local folder or
    hub id (offline, a hub id fails at once with the command that fixes it)."""
    if cfg.preset == "smoke" and cfg.model is None:
        torch.manual_seed(cfg.seed)
        if cfg.smoke_arch == "t5":
            model, tok, enc_dec = tiny_t5(seed=cfg.seed)
        else:
            model, tok, enc_dec = tiny_llama(seed=cfg.seed, gqa=cfg.smoke_arch == "llama-gqa")
        model.to(model_dtype(cfg.model_dtype, not enc_dec))
        return model, tok, not enc_dec, f"tiny-{cfg.smoke_arch} (smoke, random init)"
    name = cfg.model or default
    causal_lm = not load_config(name, app).is_encoder_decoder
    torch.manual_seed(cfg.seed)
    model, tok, _ = load_pretrained(name, app, dtype=model_dtype(cfg.model_dtype, causal_lm))
    return model, tok, causal_lm, name


def attach(method: Method, model: torch.nn.Module, model_name: str) -> torch.nn.Module:
    """The method's adapters, attached now so that a model it cannot adapt fails at once."""
    try:
        return method.prepare(model)
    except ValueError as err:
        raise ConfigError(f"method {method.name!r} cannot adapt {model_name}: {err}") from None


def every_task(per_task: list[dict[str, Any]], **values: Any) -> None:
    """Set the values that are not None for every task (the command line beats the table)."""
    for params in per_task:
        params.update({k: v for k, v in values.items() if v is not None})


def make_encoder(tokenizer: Any, causal_lm: bool, cfg: Any):
    settings: dict[str, Any] = {
        "max_source_length": cfg.max_source_length,
        "max_target_length": cfg.max_target_length,
        "truncation": cfg.truncation,
    }
    if causal_lm and cfg.truncation == "released":
        settings["train_padding_side"] = "left"  # the release pads on the left
    encoder = CausalLMEncoder if causal_lm else Seq2SeqEncoder
    return encoder(tokenizer, **settings)


def train_tasks(stream: Any, encoder: Any, per_task: list[dict[str, Any]]) -> list[TrainTask]:
    out = []
    for task, params in zip(stream, per_task, strict=True):
        rows = encoder.encode_all(task.prompted("train"), desc=f"encoding {task.name}")
        require_targets(task.name, rows)
        out.append(
            TrainTask(
                name=task.name,
                train=rows,
                collate=encoder.collate,
                params=params,
                eval=task.prompted("test"),
            )
        )
    return out


def require_targets(name: str, rows: list[dict[str, Any]]) -> None:
    """A task whose encoded training rows hold no answer token trains on NaN losses (every
    step skipped): refuse it, naming the setting that cut the answers."""
    labelled = sum(1 for row in rows if any(t != -100 for t in row.get("labels", [])))
    if rows and labelled == 0:
        raise ConfigError(
            f"task {name!r}: no training example keeps an answer token after truncation "
            f"(every loss would be NaN); raise --max-source-length / --max-target-length"
        )


def precision(choice: str, causal_lm: bool, gpu_default: str = "bf16") -> str:
    """accelerate's mixed precision: fp32 is "no"; auto is ``gpu_default`` on a GPU."""
    if choice == "auto":
        return gpu_default if torch.cuda.is_available() else "no"
    return {"fp32": "no"}.get(choice, choice)


def accumulation(global_batch: int, per_device: int, flag: str = "--global-batch") -> int:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if global_batch % (per_device * world):
        raise ConfigError(
            f"{flag}: {global_batch} is not a multiple of the per-device batch {per_device} x "
            f"{world} process(es)"
        )
    return global_batch // (per_device * world)


def trackers(log_with: str) -> tuple[str, ...]:
    return () if log_with.lower() == "none" else tuple(log_with.split(","))


def generation_evaluator(
    encoder: Any, tokenizer: Any, match: Callable[..., Any], *, max_new_tokens: int,
    batch_size: int, progress: bool,
) -> GenerationEvaluator:  # fmt: skip
    """Greedy generation on ``encoder.generation_batch`` (inputs and gold answers), scored by
    ``match``."""

    def make_batch(examples):
        batch = encoder.generation_batch(examples)
        return batch.model_inputs(), batch.gold

    return GenerationEvaluator(
        tokenizer=tokenizer,
        make_batch=make_batch,
        match=match,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        progress=progress,
    )


def task_update_analysis(model, names: list[str], output_dir: Path, plot: bool, title: str):
    """The task-update analysis of a stacked-adapter run (None for other methods); prints its
    summary and draws task_updates.png."""
    from cl_methods.adapters import stacked_lora_layers
    from cl_methods.analysis import analyse_task_updates, plot_task_updates

    layers = stacked_lora_layers(model)
    if not layers or len(next(iter(layers.values())).task_ranks) < 2:
        return None
    analysis = analyse_task_updates(model, names)
    summary = analysis["summary"]
    keys = (
        "collision_rate",
        "frobenius_cosine",
        "input_overlap",
        "mean_density",
        "mean_nuclear_norm",
    )
    print(
        "task updates (mean over layers and task pairs): "
        + ", ".join(f"{k} {summary[k]:.3f}" for k in keys if summary[k] is not None)
    )
    if plot:
        try:
            plot_task_updates(analysis, output_dir / "task_updates.png", title=title)
        except ImportError as err:
            print(f"task-update plot skipped: {err}", file=sys.stderr)
    return analysis


def hardware(trainer: Any, global_batch: int) -> dict[str, Any]:
    acc = trainer.accelerator
    return {
        "gpu_count": torch.cuda.device_count(),
        "processes": acc.num_processes,
        "global_batch": global_batch,
        "device": str(acc.device),
        "mixed_precision": trainer.config.mixed_precision,
    }


def trainer_settings(cfg: Any, **values: Any) -> TrainerConfig:
    """The trainer's config from the recipe's common settings plus ``values``."""
    return TrainerConfig(
        output_dir=str(cfg.output_dir),
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        checkpoint_every=cfg.checkpoint_every,
        max_consecutive_nonfinite=cfg.max_consecutive_nonfinite,
        log_with=trackers(cfg.log_with),
        progress=cfg.progress,
        **values,
    )
