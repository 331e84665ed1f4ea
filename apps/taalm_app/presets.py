"""The hyperparameters of the TAALM paper's CKL runs (spec §5, §9, §10) and the smoke preset.

``PRESETS[preset][benchmark]`` gives every default; the command line overrides any of them.
``batch_size`` counts training documents per optimizer step (global); ``micro_batch_rows`` the
rows of one micro-batch (training + replay documents), so Mix-review's micro-batches hold
``rows / (1 + r)`` training documents. LAMA-ckl's Mix-review step is 32 + 32 documents and
TemporalWiki's 64 + 64, as in the reference's scripts.
"""

from __future__ import annotations

from typing import Any

from cl_methods.taalm import LLAMA_LORA_TARGETS

COMMON: dict[str, Any] = {
    "lr": 1e-4,
    "weight_decay": 0.01,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_eps": 1e-8,
    "max_grad_norm": 0.0,  # the reference does not clip
    "max_length": 512,
    "lora_r": 64,
    "lora_alpha": 16,
    "lora_dropout": 0.1,
    "lora_targets": list(LLAMA_LORA_TARGETS),
    "known_masking": False,
    "replay_ratio": 1.0,
    "recadam_anneal_k": 0.5,
    "recadam_t0": 250.0,
    "recadam_gamma": 5000.0,
    "recadam_grouping": "all",
    "rho1_keep_ratio": 0.6,
    "rho1_criterion": "excess_loss",
    "kadapter_taps": [1, 15],
    "kadapter_dropout": 0.9,
    "kadapter_scale": 0.1,
    "probe_kind": "descriptive",
    "eval_batch_size": 16,
    "micro_batch_rows": 8,
    "limit_train": None,
    "limit_probes": None,
    "smoke_vocab": 1024,
    "smoke_layers": 3,
    "smoke_width": 64,
    "threads": None,
}

PAPER: dict[str, dict[str, Any]] = {
    "lama-ckl": {
        **COMMON,
        "model": "meta-llama/Llama-2-7b-hf",
        "theta_adapter": "Anonymous-TAALM/Llama-2-7b",
        "epochs": 30,
        "batch_size": 64,
        "mixreview_batch_size": 32,
        "replay_field": "evidence",
        "checkpoint_every": 8,  # one epoch of 500 documents at 64 per step
        "eval_before_training": True,
    },
    "temporalwiki": {
        **COMMON,
        "model": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        "theta_adapter": "Anonymous-TAALM/Llama-2-1b",
        "epochs": 1,
        "batch_size": 64,
        "mixreview_batch_size": 64,
        "replay_field": "text",
        "checkpoint_every": 200,
        "eval_before_training": False,
    },
}

SMOKE_CHANGES: dict[str, Any] = {
    "model": "tiny-random-llama",
    "theta_adapter": None,
    "lr": 1e-3,
    "max_length": 96,
    "lora_r": 4,
    "lora_alpha": 8,
    "lora_dropout": 0.0,
    "kadapter_taps": [1, 2],
    "kadapter_dropout": 0.1,
    "micro_batch_rows": 4,
    "limit_train": 16,
    "limit_probes": 16,
    "eval_batch_size": 16,
    "checkpoint_every": 0,
    "threads": 1,  # tiny models: one thread is fastest, and much faster on a busy machine
}

SMOKE: dict[str, dict[str, Any]] = {
    "lama-ckl": {
        **PAPER["lama-ckl"],
        **SMOKE_CHANGES,
        "epochs": 3,
        "batch_size": 8,
        "mixreview_batch_size": 4,
    },
    "temporalwiki": {
        **PAPER["temporalwiki"],
        **SMOKE_CHANGES,
        "batch_size": 8,
        "mixreview_batch_size": 8,
    },
}

PRESETS = {"paper": PAPER, "smoke": SMOKE}

#: --method names -> registered cl-methods names
BASELINES = {
    "finetune": "ckl_finetune",
    "oracle": "ckl_oracle",
    "kadapter": "kadapter",
    "recadam": "recadam",
    "mixreview": "mixreview",
    "rho1": "rho1",
}
COMBINABLE = ("kadapter", "recadam", "mixreview", "rho1")


def parse_method(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"taalm+mixreview+recadam"`` -> ("taalm", ("mixreview", "recadam")); a baseline name ->
    (its registered name, ()). Only TAALM combines with other methods (the paper's runs)."""
    parts = [p.strip().lower() for p in spec.split("+") if p.strip()]
    if not parts:
        raise ValueError("empty --method")
    head, rest = parts[0], parts[1:]
    if head == "taalm":
        bad = [p for p in rest if p not in COMBINABLE]
        if bad or len(set(rest)) != len(rest):
            raise ValueError(
                f"--method {spec!r}: TAALM combines with each of {', '.join(COMBINABLE)} at most "
                "once"
            )
        return "taalm", tuple(rest)
    if rest or head not in BASELINES:
        raise ValueError(
            f"--method {spec!r}: choose one of {', '.join(BASELINES)}, or taalm[+X...] with X in "
            f"{', '.join(COMBINABLE)}"
        )
    return BASELINES[head], ()
