"""Command-line options of apps/reproduce_kif.py (None = the paper's value or the preset's)."""

from __future__ import annotations

import argparse

# CLI dest -> KIFConfig field, for the method's main hyperparameters.
METHOD_FLAGS = {
    "inner_iterations": "K: inner optimizer steps between fusions (paper 8)",
    "outer_iterations": "M: outer memory steps per fusion (paper 4)",
    "outer_batch_size": "B_out per device (paper: T5 8, LLaMA 64)",
    "outer_lr": "outer AdamW lr (paper 1e-3; 0 emulates the reference in fp16)",
    "outer_optimizer": "adamw, or inner (emulates the reference in fp32)",
    "quantile": "importance quantile q (paper 0.8)",
    "sensitivity": "first, second or mix (paper first)",
    "threshold_scope": "global (paper) or local",
    "memory_ratio": "percent of each earlier task kept in memory (paper 2)",
    "carry_adapters": "true (decision 6a) or false (emulates the reference)",
    "select_best_on_dev": "true: keep each task's lowest-dev-loss weights (reference; off: 6f)",
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python apps/reproduce_kif.py",
        description="Reproduce Recurrent-KIF on the long-sequence instruction benchmark.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = ap.add_argument
    add("--order", type=int, default=None, choices=range(1, 7), help="O-LoRA order number")
    add(
        "--kif-order",
        type=int,
        default=None,
        choices=range(1, 7),
        help="the Recurrent-KIF reference order id instead (1 -> O-LoRA 4, ..., 4 -> O-LoRA 1)",
    )
    add("--tasks", default=None, help="comma-separated task names instead of an order")
    add("--num-tasks", type=int, default=None, help="train only the first N tasks of the order")
    add(
        "--preset",
        choices=("paper", "smoke"),
        default="paper",
        help="smoke: tiny random T5 + byte tokenizer, first 3 tasks of order 4, small samples",
    )
    add("--model", default=None, help="hub id or local folder (default t5-large; smoke: tiny T5)")
    add("--data-dir", default=None, help="default: $CL_SHARED_DATA/long_sequence_instruct")
    add(
        "--test-file",
        action="append",
        default=[],
        metavar="TASK=PATH",
        help="replace a task's test file (the shared dbpedia/yahoo test files are rebuilt)",
    )
    add("--output-dir", default=None, help="default: runs/reproduce_kif/order<N>[-smoke]")
    add("--resume", action="store_true", help="continue an interrupted run in --output-dir")
    add("--max-train-samples", type=int, default=None, help="per task, seeded")
    add("--max-test-samples", type=int, default=None, help="per task, seeded")
    add("--balanced", action=argparse.BooleanOptionalAction, default=False)
    add("--seed", type=int, default=42)
    add("--epochs", type=int, default=None, help="paper 10")
    add("--lr", type=float, default=None, help="paper 3e-4")
    add("--lr-scheduler", choices=("constant", "linear", "cosine"), default=None)
    add("--warmup-steps", type=int, default=None, help="paper 50")
    add("--per-device-batch", type=int, default=None, help="paper: T5 2, LLaMA 16")
    add("--grad-accum", type=int, default=None, help="paper 4")
    add("--max-grad-norm", type=float, default=1.0)
    add(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="auto: the paper's (T5 fp32; LLaMA fp16 on a GPU, fp32 on the CPU)",
    )
    add(
        "--load-in-8bit",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="the paper's int8 LLaMA base (not supported yet: fails with the reason)",
    )
    add("--max-source-length", type=int, default=None, help="T5 source tokens (paper 1024)")
    add("--max-target-length", type=int, default=None, help="T5 target tokens (paper 128)")
    add("--cutoff-len", type=int, default=None, help="LLaMA sequence cutoff (paper 512)")
    add("--max-new-tokens", type=int, default=None, help="paper 128")
    add(
        "--truncation",
        choices=("released", "cut"),
        default="released",
        help="released: as Recurrent-KIF's release, training inputs are cut to the limit "
        "(--max-source-length / --cutoff-len) and test inputs are not cut; cut: test inputs "
        "are cut to the same limit",
    )
    add("--eval-batch-size", type=int, default=None)
    for dest, text in METHOD_FLAGS.items():
        add(f"--{dest.replace('_', '-')}", default=None, help=text)
    add(
        "--method-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other KIFConfig field (repeatable), e.g. reset_outer=1, outer_loss_div_ga=1",
    )
    add("--checkpoint-every", type=int, default=0, help="optimizer steps between checkpoints")
    add("--log-with", default="tensorboard", help="comma-separated accelerate trackers, or none")
    add("--progress", action=argparse.BooleanOptionalAction, default=True)
    add("--plot", action=argparse.BooleanOptionalAction, default=True, help="heatmap PNG")
    return ap
