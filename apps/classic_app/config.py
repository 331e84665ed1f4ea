"""Run configuration: defaults < YAML file < command line (the command line always wins).

Every key is addressable on the command line with its dotted path: ``--trainer.epochs 2``,
``--method_config.fix_encoder false``, ``--data.train_per_class=20``. Values are converted to the
type of the key: booleans strictly (``parse_bool``), numbers, ``null``/``none`` for None; trainer
and method keys are converted by their dataclass field types when the run is built.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml

from cl_methods.registry import parse_bool

DEFAULTS: dict[str, Any] = {
    "name": None,
    "seed": 1,  # spec DECISION: a default seed, always applied
    "output_dir": None,
    "method": "seq",
    "method_config": {},
    "scenario": "CIL",  # CIL | TIL | IIL
    "backbone": {
        "model": "minilm",  # minilm | tiny-bert | tiny-llama | local path | hub id
        "kind": "encoder",  # encoder | causal_lm
        "head": "linear",  # linear | cosine | none (generative LM loss, generation + EM)
        "cosine_scale": None,  # None: 1.0 fixed (16.0 when learnable)
        "cosine_scale_learnable": False,
        "feature": "cls_token",  # cls_token | last_token (generative: always last_token)
        "max_length": 128,
        "max_new_tokens": 10,
        "prompt": "none",  # cl_data.classic PROMPTS: default | qa | none | ...
    },
    "data": {
        "name": "topic3",  # topic3 | concept_1k | dir (a continual_{data,config}.json folder)
        "dir": None,
        "seed": 1,
        "num_tasks": None,  # use only the first N tasks
        "train_per_class": 3000,  # topic3 caps (spec 3000/2000)
        "test_per_class": 2000,
        "max_train_per_task": None,  # caps for any dataset (first N rows)
        "max_test_per_task": None,
        "max_train_eval_per_task": None,  # IIL memorisation: train rows scored per task
    },
    "trainer": {
        "epochs": 5,
        "lr": 1e-5,
        "batch_size": 4,
        "weight_decay": 5e-4,
        "max_grad_norm": 0.0,  # spec: no clipping, no scheduler
        "lr_scheduler": "constant",
        "log_with": [],
        "progress": True,
    },
    "eval": {"batch_size": 32, "probe": False, "probe_epochs": 20},
}

FREE_SECTIONS = ("method_config", "trainer")  # keys checked later by their dataclasses


def deep_merge(base: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        path = f"{where}{key}"
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = deep_merge(out[key], value, path + ".")
        else:
            if key not in out and not any(path.startswith(s + ".") for s in FREE_SECTIONS):
                raise KeyError(f"unknown config key {path!r}")
            out[key] = value
    return out


def coerce_like(value: Any, default: Any, key: str) -> Any:
    """Convert a command-line string to the type of ``default``."""
    if not isinstance(value, str):
        return value
    if isinstance(default, bool):
        return parse_bool(value)
    if isinstance(default, str):  # strings stay strings ("none" is a head type and a prompt)
        return value
    if value.strip().lower() in {"none", "null"}:
        return None
    try:
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError as err:
        raise ValueError(f"--{key}: expected {type(default).__name__}, got {value!r}") from err
    if isinstance(default, (list, tuple)):
        return [v for v in value.split(",") if v]
    return yaml.safe_load(value)  # None default or a free key: YAML scalar rules


def parse_overrides(tokens: list[str]) -> list[tuple[str, str]]:
    pairs, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise ValueError(f"expected --key value, got {tok!r}")
        key = tok[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(tokens):
                raise ValueError(f"--{key} needs a value")
            value = tokens[i + 1]
            i += 2
        pairs.append((key.replace("-", "_"), value))
    return pairs


def apply_override(cfg: dict[str, Any], key: str, value: str) -> None:
    parts = key.split(".")
    node = cfg
    for part in parts[:-1]:
        if part not in node or not isinstance(node[part], dict):
            raise KeyError(f"unknown config key --{key}")
        node = node[part]
    leaf = parts[-1]
    free = parts[0] in FREE_SECTIONS and len(parts) == 2
    if leaf not in node and not free:
        raise KeyError(f"unknown config key --{key}")
    if free and leaf not in node:
        node[leaf] = value  # converted by the dataclass (method or trainer config)
    else:
        node[leaf] = coerce_like(value, node[leaf], key)


def load_config(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description="Run one classic continual-learning experiment from a YAML config.",
        epilog="Any config key can follow as --section.key value (the command line wins).",
    )
    parser.add_argument("--config", required=True, help="YAML file (see apps/configs/classic)")
    args, rest = parser.parse_known_args(argv)
    path = Path(args.config)
    if not path.is_file():
        parser.error(f"config file not found: {path}")
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        parser.error(f"{path}: the top level must be a mapping")
    try:
        cfg = deep_merge(DEFAULTS, loaded)
        for key, value in parse_overrides(rest):
            apply_override(cfg, key, value)
    except (KeyError, ValueError) as err:
        parser.error(f"{path}: {err}")
    cfg["seed"] = int(cfg["seed"])
    cfg["scenario"] = str(cfg["scenario"]).upper()
    if cfg["name"] is None:
        cfg["name"] = path.stem
    if cfg["output_dir"] is None:
        cfg["output_dir"] = f"runs/classic/{cfg['name']}"
    return cfg
