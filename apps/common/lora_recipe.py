"""The recipe shared by the O-LoRA and N-LoRA apps: one frozen model, a stream of CL-benchmark
tasks, one method from cl-methods, greedy generation scored by exact match, a cl-eval report.

An app supplies its name, its default method and a function that returns the paper's per-task
hyperparameters; everything else (options, presets, data, model, trainer, report) lives here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cl_data import (
    CausalLMEncoder,
    Seq2SeqEncoder,
    load_stream,
    shared_data_root,
    synthetic_stream,
)
from cl_eval import exact_match
from cl_methods import (
    ContinualTrainer,
    GenerationEvaluator,
    TrainerConfig,
    TrainTask,
    available_methods,
    get_method_class,
)
from cl_methods.registry import config_from_dict

from .models import load_config, load_pretrained, tiny_llama, tiny_t5

TaskParams = Callable[[int, list[str], bool, argparse.Namespace], list[dict[str, Any]]]


@dataclass
class App:
    """What differs between the apps that share this recipe."""

    script: str  # e.g. "reproduce_olora.py"
    title: str  # e.g. "O-LoRA"
    default_method: str
    task_params: TaskParams  # (order, task names, causal_lm, args) -> per-task dicts
    method_flags: dict[str, str] = field(default_factory=dict)  # CLI dest -> method config field
    default_model: str = "t5-large"
    paper_defaults: dict[str, Any] = field(default_factory=dict)  # per-device batch etc.
    # (order, causal_lm) -> (global batch, per-device batch), when the paper's batch varies
    batch_table: Callable[[int, bool], tuple[int, int]] | None = None


SMOKE_ARCHS = ("t5", "llama", "llama-gqa")
MODEL_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# The smoke preset: a tiny T5 or LLaMA (--smoke-arch) on the embedded synthetic benchmark, a few
# minutes on 2 CPU cores.
SMOKE = {
    "max_train_samples": None,
    "max_test_samples": 24,
    "lr": 5e-3,
    "epochs": 8,
    "global_batch": 8,
    "per_device_batch": 8,
    "max_source_length": 256,
    "max_target_length": 16,
    "max_new_tokens": 12,
    "eval_batch_size": 24,
}


def build_parser(app: App) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=f"python apps/{app.script}",
        description=f"Reproduce {app.title} on the 15-task CL benchmark (orders 1-6).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = ap.add_argument
    add("--order", type=int, default=1, choices=range(1, 7), help="task order of the paper")
    add("--method", default=app.default_method, help=f"one of: {', '.join(available_methods())}")
    add(
        "--preset",
        choices=("paper", "smoke"),
        default="paper",
        help="smoke: a tiny random model (--smoke-arch) + byte tokenizer on the embedded "
        "synthetic benchmark (no download)",
    )
    add(
        "--smoke-arch",
        choices=SMOKE_ARCHS,
        default="t5",
        help="smoke model: tiny T5, tiny LLaMA, or tiny LLaMA with grouped-query attention "
        "(k/v narrower than q)",
    )
    add(
        "--model",
        default=None,
        help=f"hub id or local folder (default: {app.default_model}; smoke: --smoke-arch)",
    )
    add(
        "--data-dir",
        default=None,
        help="CL_Benchmark folder (default: $CL_SHARED_DATA/CL_Benchmark; smoke: synthetic)",
    )
    add("--output-dir", default=None, help="default: runs/<app>/order<N>-<method>[-smoke]")
    add("--resume", action="store_true", help="continue an interrupted run in --output-dir")
    add("--max-train-samples", type=int, default=None, help="per task, seeded")
    add("--max-test-samples", type=int, default=None, help="per task, seeded")
    add(
        "--balanced",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="class-balanced sub-sampling",
    )
    add(
        "--drop-unlabelled",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="drop MNLI test rows labelled '-' (kept by default: they count as errors)",
    )
    add("--seed", type=int, default=42)
    # Optimisation (None = the paper's value for this order/model, or the preset's)
    add("--lr", type=float, default=None, help="learning rate for every task")
    add("--epochs", type=int, default=None, help="epochs for every task")
    add("--global-batch", type=int, default=None, help="per-device batch x accumulation x GPUs")
    add("--per-device-batch", type=int, default=None)
    add("--max-grad-norm", type=float, default=1.0)
    add("--weight-decay", type=float, default=0.0)
    add("--lr-scheduler", choices=("constant", "linear", "cosine"), default="constant")
    add("--warmup-steps", type=int, default=0)
    add(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="auto: bf16 on a GPU, fp32 on the CPU",
    )
    add(
        "--model-dtype",
        choices=("auto", *MODEL_DTYPES),
        default="auto",
        help="dtype of the frozen base weights (adapters stay fp32); auto: bf16 for a causal LM "
        "on a GPU (the reference's LLaMA setting), else fp32",
    )
    # Adapters and the method's regulariser
    add("--r", type=int, default=None, help="LoRA rank (paper: 8)")
    add("--alpha", type=float, default=None, help="LoRA alpha (paper: 32)")
    add("--dropout", type=float, default=None, help="LoRA dropout (paper: 0.1)")
    add(
        "--targets",
        default=None,
        help="comma-separated module suffixes (default: q,v for T5, q_proj,v_proj for LLaMA)",
    )
    for dest, help_text in app.method_flags.items():
        add(f"--{dest.replace('_', '-')}", default=None, help=help_text)
    add(
        "--method-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other field of the method's config (repeatable)",
    )
    # Lengths and evaluation
    add("--max-source-length", type=int, default=None, help="paper: 512")
    add("--max-target-length", type=int, default=None, help="paper: 50")
    add("--max-new-tokens", type=int, default=None, help="paper: 50")
    add(
        "--truncation",
        choices=("released", "cut"),
        default="released",
        help="inputs over --max-source-length: released = as the O-LoRA/N-LoRA collator (decode "
        "the kept ids and tokenise the text again; causal LMs: BOS + prompt, answer + EOS, left "
        "padding); cut = cut the token ids (cl_data encoders' docstrings)",
    )
    add("--eval-batch-size", type=int, default=None)
    add(
        "--eval-future",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="evaluate every task after each task (FWT needs it, with --eval-before)",
    )
    add(
        "--eval-before",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="evaluate the untrained model first (FWT baseline)",
    )
    add("--checkpoint-every", type=int, default=0, help="optimizer steps between checkpoints")
    add("--log-with", default="tensorboard", help="comma-separated accelerate trackers, or none")
    add("--progress", action=argparse.BooleanOptionalAction, default=True)
    add("--plot", action=argparse.BooleanOptionalAction, default=True, help="heatmap PNG")
    add(
        "--analysis",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="task-update analysis (collision rate, subspace overlap) into results.json and "
        "task_updates.png",
    )
    return ap


# The tiny random LLaMA needs a larger learning rate than the tiny T5 to learn anything in the
# smoke preset's 8 epochs with q/v adapters only.
SMOKE_BY_ARCH: dict[str, dict[str, Any]] = {"llama": {"lr": 2e-2}, "llama-gqa": {"lr": 2e-2}}


def _setting(args: argparse.Namespace, name: str, smoke: bool, paper: Any) -> Any:
    """Command line, else the smoke preset (its per-architecture values first), else the
    paper's value."""
    value = getattr(args, name)
    if value is not None:
        return value
    if not smoke:
        return paper
    by_arch = SMOKE_BY_ARCH.get(getattr(args, "smoke_arch", "t5"), {})
    return by_arch.get(name, SMOKE.get(name, paper))


def _method_config(app: App, args: argparse.Namespace) -> Any:
    cls = get_method_class(args.method)
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    values: dict[str, Any] = {}
    for name in ("r", "alpha", "dropout"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if args.targets:
        values["targets"] = args.targets
    for dest, cfg_field in _flag_fields(app).items():
        if getattr(args, dest) is not None:
            if cfg_field not in fields:
                raise SystemExit(
                    f"--{dest.replace('_', '-')} does not apply to method {args.method!r} "
                    f"(its options: {sorted(fields)})"
                )
            values[cfg_field] = getattr(args, dest)
    for item in args.method_opt:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--method-opt expects KEY=VALUE, got {item!r}")
        values[key.strip().replace("-", "_")] = value
    unknown = sorted(set(values) - fields)
    if unknown:
        raise SystemExit(
            f"method {args.method!r} has no option(s) {unknown}; its options: {sorted(fields)}"
        )
    try:
        return cls(config_from_dict(cls.config_class, values))
    except ValueError as err:
        raise SystemExit(f"bad method option: {err}") from err


def _flag_fields(app: App) -> dict[str, str]:
    return {dest: dest for dest in app.method_flags}


def _precision(choice: str) -> str:
    if choice == "auto":
        return "bf16" if torch.cuda.is_available() else "no"
    return {"fp32": "no"}.get(choice, choice)


def _model_dtype(choice: str, causal_lm: bool) -> torch.dtype:
    if choice == "auto":
        return torch.bfloat16 if causal_lm and torch.cuda.is_available() else torch.float32
    return MODEL_DTYPES[choice]


def _load_model(app: App, args: argparse.Namespace, smoke: bool):
    """(model, tokenizer, encoder_decoder, description)."""
    if smoke and args.model is None:
        if args.smoke_arch == "t5":
            model, tokenizer, encoder_decoder = tiny_t5(seed=args.seed)
        else:
            model, tokenizer, encoder_decoder = tiny_llama(
                seed=args.seed, gqa=args.smoke_arch == "llama-gqa"
            )
        model.to(_model_dtype(args.model_dtype, not encoder_decoder))
        return model, tokenizer, encoder_decoder, f"tiny-{args.smoke_arch} (smoke, random init)"
    name = args.model or app.default_model
    config = load_config(name, app.script)
    dtype = _model_dtype(args.model_dtype, not config.is_encoder_decoder)
    model, tokenizer, encoder_decoder = load_pretrained(name, app.script, dtype=dtype)
    return model, tokenizer, encoder_decoder, name


def _task_update_analysis(model, names: list[str], output_dir: Path, plot: bool, title: str):
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


def _load_tasks(args: argparse.Namespace, smoke: bool):
    if smoke and args.data_dir is None:
        if args.order not in (1, 2, 3):
            raise SystemExit(
                "the embedded synthetic benchmark has orders 1-3 only; pass --data-dir for "
                f"order {args.order}"
            )
        return synthetic_stream(args.order, seed=args.seed), "synthetic"
    data_dir = args.data_dir or str(shared_data_root() / "CL_Benchmark")
    return load_stream(args.order, data_dir, drop_unlabelled=args.drop_unlabelled), data_dir


def generation_evaluator(
    encoder: Any,
    tokenizer: Any,
    match: Callable[..., Any],
    *,
    max_new_tokens: int,
    batch_size: int,
    progress: bool,
) -> GenerationEvaluator:
    """The generation evaluator of the LoRA apps: test batches come from
    ``encoder.generation_batch`` (model inputs and gold answers), scored by ``match``."""

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


def run(app: App, argv: list[str] | None = None) -> int:
    args = build_parser(app).parse_args(argv)
    smoke = args.preset == "smoke"
    suffix = "-smoke" if smoke else ""
    if smoke and args.model is None and args.smoke_arch != "t5":
        suffix += f"-{args.smoke_arch}"
    default_dir = Path("runs") / app.script.removesuffix(".py")
    output_dir = Path(args.output_dir or default_dir / f"order{args.order}-{args.method}{suffix}")
    method = _method_config(app, args)

    torch.manual_seed(args.seed)
    model, tokenizer, encoder_decoder, model_name = _load_model(app, args, smoke)
    causal_lm = not encoder_decoder
    try:  # attach the method's adapters now, so that a model it cannot adapt fails at once
        model = method.prepare(model)
    except ValueError as err:
        msg = f"{app.script}: method {method.name!r} cannot adapt {model_name}: {err}"
        raise SystemExit(msg) from err

    stream, data_source = _load_tasks(args, smoke)
    limits = {
        "max_train_samples": _setting(args, "max_train_samples", smoke, None),
        "max_test_samples": _setting(args, "max_test_samples", smoke, None),
    }
    if any(v is not None for v in limits.values()):
        stream = stream.subsample(**limits, seed=args.seed, balanced=args.balanced)
    names = list(stream.names)

    per_task = app.task_params(args.order, names, causal_lm, args)
    for params in per_task:
        if args.lr is not None or smoke:
            params["lr"] = _setting(args, "lr", smoke, params["lr"])
        if args.epochs is not None or smoke:
            params["epochs"] = _setting(args, "epochs", smoke, params["epochs"])
        for dest in app.method_flags:  # a flag that is also a per-task value wins for every task
            if dest in params and getattr(args, dest) is not None:
                params[dest] = float(getattr(args, dest))

    paper = app.paper_defaults
    max_source = _setting(args, "max_source_length", smoke, 512)
    max_target = _setting(args, "max_target_length", smoke, 50)
    lengths = {"max_source_length": max_source, "max_target_length": max_target}
    lengths["truncation"] = args.truncation
    if causal_lm and args.truncation == "released":
        lengths["train_padding_side"] = "left"  # the release pads on the left
    encoder = (
        CausalLMEncoder(tokenizer, **lengths) if causal_lm else Seq2SeqEncoder(tokenizer, **lengths)
    )

    tasks = []
    for task, params in zip(stream, per_task, strict=True):
        features = encoder.encode_all(task.prompted("train"), desc=f"encoding {task.name}")
        tasks.append(
            TrainTask(
                name=task.name,
                train=features,
                collate=encoder.collate,
                params=params,
                eval=task.prompted("test"),
            )
        )

    world = int(os.environ.get("WORLD_SIZE", "1"))
    paper_global = paper.get("global_batch", 64)
    paper_batch = paper.get("per_device_batch_causal" if causal_lm else "per_device_batch", 8)
    if app.batch_table is not None:
        paper_global, paper_batch = app.batch_table(args.order, causal_lm)
    global_batch = _setting(args, "global_batch", smoke, paper_global)
    per_device = _setting(args, "per_device_batch", smoke, paper_batch)
    if global_batch % (per_device * world):
        raise SystemExit(
            f"--global-batch {global_batch} is not a multiple of per-device batch {per_device} x "
            f"{world} process(es)"
        )
    grad_accum = global_batch // (per_device * world)
    log_with = () if args.log_with.lower() == "none" else tuple(args.log_with.split(","))
    config = TrainerConfig(
        output_dir=str(output_dir),
        epochs=per_task[0]["epochs"],
        lr=per_task[0]["lr"],
        batch_size=per_device,
        grad_accum=grad_accum,
        max_grad_norm=args.max_grad_norm,
        weight_decay=args.weight_decay,
        lr_scheduler=args.lr_scheduler,
        warmup_steps=args.warmup_steps,
        mixed_precision=_precision(args.precision),
        seed=args.seed,
        eval_future=args.eval_future,
        eval_before_training=args.eval_before,
        checkpoint_every=args.checkpoint_every,
        log_with=log_with,
        progress=args.progress,
    )

    evaluator = generation_evaluator(
        encoder,
        tokenizer,
        exact_match,
        max_new_tokens=_setting(args, "max_new_tokens", smoke, 50),
        batch_size=_setting(args, "eval_batch_size", smoke, 32),
        progress=args.progress,
    )
    trainer = ContinualTrainer(model, method, config, evaluate=evaluator)
    print(
        f"{app.title}: method {method.name}, model {model_name}, order {args.order} "
        f"({', '.join(names)}), data {data_source}, truncation {args.truncation}, "
        f"{trainer.accelerator.num_processes} "
        f"process(es), global batch {global_batch} = {per_device} x {grad_accum} x "
        f"{trainer.accelerator.num_processes}, output {output_dir}",
        flush=True,
    )
    result = trainer.fit(tasks, resume=args.resume)
    if not trainer.accelerator.is_main_process:
        return 0
    analysis = None
    if args.analysis:
        title = f"{app.title} order {args.order} {method.name}: task updates, mean over layers"
        analysis = _task_update_analysis(trainer.model, names, output_dir, args.plot, title)

    from .report import write_run_report

    run_config = {
        "app": app.script,
        "args": vars(args),
        "model": model_name,
        "data": data_source,
        "tasks": names,
        "truncation": args.truncation,
        "task_params": per_task,
        "method": {"name": method.name, **method.config.to_dict()},
        "trainer": config.to_dict(),
    }
    hardware = {
        "gpu_count": torch.cuda.device_count(),
        "processes": trainer.accelerator.num_processes,
        "global_batch": global_batch,
        "device": str(trainer.accelerator.device),
        "mixed_precision": config.mixed_precision,
    }
    write_run_report(
        result,
        output_dir,
        name=f"{app.title} order {args.order} {method.name}{suffix}",
        config=run_config,
        hardware=hardware,
        plot=args.plot,
        extra={"task_update_analysis": analysis} if analysis is not None else None,
    )
    (output_dir / "run_config.json").write_text(json.dumps(run_config, indent=2, default=str))
    return 0


def main(app: App) -> None:
    sys.exit(run(app))
