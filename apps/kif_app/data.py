"""The long-sequence instruction data of Recurrent-KIF as trainer tasks.

T5: source = instruction + input (cl-data's "instruct" format), target = output. Causal LMs: the
Alpaca template with prompt masking (:mod:`.encoding`). Each training row keeps its ``output``
string, the class key of the memory buffer.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from common.config import ConfigError

from cl_data import (
    DataError,
    Seq2SeqEncoder,
    load_instruct_stream,
    olora_to_kif,
    order_tasks,
    shared_data_root,
)
from cl_methods import TrainTask


def parse_test_files(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, _, path = item.partition("=")
        if not Path(path.strip()).is_file():
            raise ConfigError(f"--test-file {item}: no such file {path.strip()!r}")
        out[name.strip().lower()] = path.strip()
    return out


def task_names(cfg: Any) -> list[str]:
    """The tasks to train, in order: ``tasks``, else the order's (the first ``num_tasks``)."""
    if cfg.tasks:
        return [t.strip().lower() for t in cfg.tasks]
    names = [n.lower() for n in order_tasks(cfg.order)]
    return names[: cfg.num_tasks] if cfg.num_tasks else names


def load_tasks(cfg: Any, names: list[str]):
    """The task stream (sub-sampled when asked) and the data folder it came from."""
    data_dir = Path(cfg.data_dir) if cfg.data_dir else shared_data_root() / "long_sequence_instruct"
    tests = parse_test_files(cfg.test_file)
    try:
        stream = load_instruct_stream(names, data_dir, test_files=tests)
    except DataError as err:
        raise ConfigError(f"cannot load the long-sequence tasks: {err}") from None
    limits = {"max_train_samples": cfg.max_train_samples, "max_test_samples": cfg.max_test_samples}
    if any(v is not None for v in limits.values()):
        stream = stream.subsample(**limits, seed=cfg.seed, balanced=cfg.balanced)
    return stream, data_dir


def describe_order(cfg: Any) -> str:
    if cfg.tasks:
        return "custom task list"
    return f"O-LoRA order {cfg.order} (Recurrent-KIF order id {olora_to_kif(cfg.order)})"


def make_encoder(tokenizer, causal_lm: bool, cfg: Any):
    if causal_lm:
        from .encoding import alpaca_encoder

        return alpaca_encoder(tokenizer, cfg.cutoff_len, cfg.max_new_tokens)
    return Seq2SeqEncoder(
        tokenizer,
        max_source_length=cfg.max_source_length,
        max_target_length=cfg.max_target_length,
        pad_to_multiple_of=8,
        pad_token_id=0,
    )


def evaluation_encoder(encoder, truncation: str):
    """The encoder of the test prompts. ``released``: Recurrent-KIF's release tokenises test
    inputs whole (only training inputs are cut: T5 at 1024 tokens, LLaMA at the 512 cutoff);
    ``cut``: test inputs are cut to the training limit."""
    if truncation == "released":
        return dataclasses.replace(encoder, max_source_length=None)
    if truncation != "cut":
        raise ValueError(f"truncation must be 'released' or 'cut', got {truncation!r}")
    return encoder


def train_tasks(stream, encoder, causal_lm: bool) -> list[TrainTask]:
    template = "alpaca" if causal_lm else "default"
    tasks = []
    for task in stream:
        prompted = task.prompted("train", template=template)
        features = encoder.encode_all(prompted, desc=f"encoding {task.name}")
        for row, ex in zip(features, prompted, strict=True):
            row["output"] = ex.target
        tasks.append(
            TrainTask(
                name=task.name,
                train=features,
                collate=encoder.collate,
                eval=task.prompted("test", template=template),
            )
        )
    return tasks


def attach_dev_data(method, stream, encoder, causal_lm: bool) -> None:
    """Give the method the first ``dev_per_task`` dev rows of every task (select_best_on_dev)."""
    template = "alpaca" if causal_lm else "default"
    for task in stream:
        rows = task.prompted("dev", template=template)[: method.config.dev_per_task]
        method.set_dev_data(task.name, encoder.encode_all(rows, desc=f"encoding {task.name} dev"))
