"""The Recurrent-KIF recipe: a frozen model with one LoRA adapter, the long-sequence tasks in an
order, the `kif` method from cl-methods, greedy generation scored by lower-cased exact match,
OP/BWT and the full cl-eval report."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from common.lora_recipe import generation_evaluator
from common.models import load_pretrained, tiny_t5
from common.report import write_run_report

from cl_eval import exact_match
from cl_methods import ContinualTrainer, TrainerConfig, get_method_class
from cl_methods.registry import config_from_dict

from .cli import METHOD_FLAGS, build_parser
from .data import (
    attach_dev_data,
    describe_order,
    evaluation_encoder,
    load_tasks,
    make_encoder,
    task_names,
    train_tasks,
)
from .settings import paper_settings

SCRIPT = "reproduce_kif.py"


def kif_match(prediction: str, gold: str) -> bool:
    """Exact match after lowercasing both (T5 special tokens removed), nothing else normalised."""
    return exact_match(prediction, gold, normalise="lower", strip_tokens=("</s>", "<pad>"))


def _value(args: argparse.Namespace, name: str, settings: dict[str, Any]) -> Any:
    value = getattr(args, name, None)
    return settings.get(name) if value is None else value


def _method(args: argparse.Namespace, settings: dict[str, Any]):
    cls = get_method_class("kif")
    values: dict[str, Any] = {}
    for dest in METHOD_FLAGS:
        value = _value(args, dest, settings)
        if value is not None:
            values[dest] = value
    for item in args.method_opt:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--method-opt expects KEY=VALUE, got {item!r}")
        values[key.strip().replace("-", "_")] = value
    try:
        return cls(config_from_dict(cls.config_class, values))
    except ValueError as err:
        raise SystemExit(f"bad Recurrent-KIF option: {err}") from err


def _check_int8(args: argparse.Namespace) -> None:
    """The paper's int8 LLaMA base is not available here: say why, before loading anything."""
    if not args.load_in_8bit:
        return
    if not torch.cuda.is_available():
        raise SystemExit(
            "--load-in-8bit (the paper's int8 LLaMA base) needs a CUDA GPU with bitsandbytes; "
            "this machine has no GPU. Run without it (--no-load-in-8bit: fp32 on the CPU), or "
            "on a GPU with --precision bf16 or fp16 (the spec accepts bf16)."
        )
    raise SystemExit(
        "--load-in-8bit is not supported yet: cl-methods' StackedLoRALinear multiplies by the "
        "base weight with F.linear, which bitsandbytes int8 weights do not support. Use "
        "--precision bf16 or fp16 (the spec accepts bf16)."
    )


def _load_model(args: argparse.Namespace, smoke: bool):
    if smoke and args.model is None:
        model, tokenizer, enc_dec = tiny_t5(seed=args.seed)
        return model, tokenizer, enc_dec, "tiny-t5 (smoke preset, random init)"
    name = args.model or "t5-large"
    model, tokenizer, enc_dec = load_pretrained(name, SCRIPT)
    return model, tokenizer, enc_dec, name


def _precision(choice: str, causal_lm: bool) -> str:
    if choice == "auto":
        return "fp16" if causal_lm and torch.cuda.is_available() else "no"
    return {"fp32": "no"}.get(choice, choice)


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    smoke = args.preset == "smoke"
    if args.order is not None and args.kif_order is not None:
        raise SystemExit("give --order (O-LoRA numbering) or --kif-order, not both")
    if args.kif_order is not None:
        from cl_data import kif_to_olora

        args.order = kif_to_olora(args.kif_order)
    if args.order is None:
        args.order = 4 if smoke else 1
    _check_int8(args)
    started = time.time()
    # The data first (a missing test file fails before a large model loads); the task list and
    # sample limits are the same for T5 and LLaMA.
    common = paper_settings(False, smoke)
    names = task_names(args, _value(args, "num_tasks", common))
    limits = {k: _value(args, k, common) for k in ("max_train_samples", "max_test_samples")}
    stream, data_dir = load_tasks(args, names, limits)
    model, tokenizer, enc_dec, model_name = _load_model(args, smoke)
    causal_lm = not enc_dec
    settings = paper_settings(causal_lm, smoke)
    method = _method(args, settings)
    encoder = make_encoder(
        tokenizer,
        causal_lm,
        {
            k: _value(args, k, settings)
            for k in ("max_source_length", "max_target_length", "cutoff_len", "max_new_tokens")
        },
    )
    tasks = train_tasks(stream, encoder, causal_lm)
    if method.config.select_best_on_dev:
        attach_dev_data(method, stream, encoder, causal_lm)

    suffix = "-smoke" if smoke else ""
    output_dir = Path(
        args.output_dir or Path("runs") / "reproduce_kif" / f"order{args.order}{suffix}"
    )
    log_with = () if args.log_with.lower() == "none" else tuple(args.log_with.split(","))
    config = TrainerConfig(
        output_dir=str(output_dir),
        epochs=_value(args, "epochs", settings),
        lr=_value(args, "lr", settings),
        batch_size=_value(args, "per_device_batch", settings),
        grad_accum=_value(args, "grad_accum", settings),
        max_grad_norm=args.max_grad_norm,
        lr_scheduler=_value(args, "lr_scheduler", settings),
        warmup_steps=_value(args, "warmup_steps", settings),
        mixed_precision=_precision(args.precision, causal_lm),
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        log_with=log_with,
        progress=args.progress,
        step_schedule="continuous",  # S = epochs x floor(micro-batches / GA), leftovers carried
    )

    evaluator = generation_evaluator(
        evaluation_encoder(encoder, args.truncation),
        tokenizer,
        kif_match,
        max_new_tokens=_value(args, "max_new_tokens", settings),
        batch_size=_value(args, "eval_batch_size", settings),
        progress=args.progress,
    )
    trainer = ContinualTrainer(model, method, config, evaluate=evaluator)
    acc = trainer.accelerator
    global_batch = config.batch_size * config.grad_accum * acc.num_processes
    print(
        f"Recurrent-KIF: model {model_name}, {describe_order(args)}: {', '.join(names)}; data "
        f"{data_dir}; {acc.num_processes} process(es), global batch {global_batch} = "
        f"{config.batch_size} x {config.grad_accum} x {acc.num_processes}; K "
        f"{method.config.inner_iterations}, M {method.config.outer_iterations}, B_out "
        f"{method.config.outer_batch_size}; output {output_dir}",
        flush=True,
    )
    result = trainer.fit(tasks, resume=args.resume)
    if not acc.is_main_process:
        return 0

    run_config = {
        "app": SCRIPT,
        "args": vars(args),
        "model": model_name,
        "data": str(data_dir),
        "test_files": {t.name: t.files.get("test") for t in stream},
        "order": {"olora": args.order, "description": describe_order(args)},
        "tasks": names,
        "truncation": args.truncation,
        "method": {"name": method.name, **method.config.to_dict()},
        "trainer": config.to_dict(),
    }
    hardware = {
        "gpu_count": torch.cuda.device_count(),
        "processes": acc.num_processes,
        "global_batch": global_batch,
        "device": str(acc.device),
        "mixed_precision": config.mixed_precision,
    }
    title = f"Recurrent-KIF order {args.order}{suffix}"
    write_run_report(
        result, output_dir, name=title, config=run_config, hardware=hardware, plot=args.plot
    )
    summary = _summary(output_dir, started)
    print(
        f"OP = {summary['op']:.2f}   BWT = "
        + ("n/a" if summary["bwt"] is None else f"{summary['bwt']:.2f}")
        + f"   ({summary['seconds']:.0f} s)"
    )
    (output_dir / "run_config.json").write_text(json.dumps(run_config, indent=2, default=str))
    return 0


def _summary(output_dir: Path, started: float) -> dict[str, Any]:
    """OP and BWT (x100) from the written report, with the matrix and the wall time."""
    results = json.loads((output_dir / "results.json").read_text())
    metrics = results["metrics"]
    summary = {
        "op": metrics.get("ap"),
        "bwt": metrics.get("bwt"),
        "tasks": results["tasks"],
        "matrix": results["matrix"],
        "seconds": round(time.time() - started, 1),
    }
    (output_dir / "kif_summary.json").write_text(json.dumps(summary, indent=2))
    return summary
