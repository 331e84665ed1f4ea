"""TAALM's settings (Seo et al., NeurIPS 2024; spec taalm.md): the run configurations of
``apps/train_attention.py`` (meta-training phi, §4) and ``apps/reproduce_taalm.py`` (the CKL runs,
§5, §9, §10), the paper's per-benchmark values and the smoke presets.

CKL runs: ``batch_size`` counts training documents per optimizer step (global);
``micro_batch_rows`` the rows of one micro-batch (training + replay documents), so a method that
replays r documents per training document (``replay_ratio``) packs ``rows / (1 + r)`` training
documents per micro-batch and uses ``batch_size_with_replay``: LAMA-ckl's Mix-review step is
32 + 32 documents and TemporalWiki's 64 + 64, as in the reference's scripts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from common import fields
from common.config import FieldError
from common.fields import h as _h
from common.models import check_model_folder

from cl_methods import MethodConfig, get_method_class
from cl_methods.taalm import LLAMA_LORA_TARGETS


# -- apps/train_attention.py ----------------------------------------------------------------------
@dataclass
class TrainAttentionRun:
    """Defaults: the paper's meta-training (theta Llama-2-7B, phi TinyLlama-1.1B-Chat)."""

    preset: Literal["paper", "smoke"] = field(
        default="paper", metadata=_h("smoke: tiny random Llamas on a pool from the shared data")
    )
    output_dir: str | None = field(
        default=None, metadata=_h("output folder (required; resumed if it holds state.json)")
    )
    pool: str | None = field(
        default=None, metadata=_h("TA pool JSON lines (required for the paper preset)")
    )
    pool_size: int | None = field(
        default=None, metadata=_h("smoke: records taken from the shared LAMA-ckl", gt=0)
    )
    theta_model: str = field(
        default="meta-llama/Llama-2-7b-hf", metadata=_h("hub id or local folder of theta")
    )
    phi_model: str = field(
        default="TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        metadata=_h("hub id or local folder of phi's backbone"),
    )
    theta_adapter: str | None = field(
        default="Anonymous-TAALM/Llama-2-7b",
        metadata=_h("LoRA adapter theta starts from (hub id or folder); none: a fresh LoRA"),
    )
    phi_adapter: str | None = field(
        default="Anonymous-TAALM/Llama-2-1b",
        metadata=_h("LoRA adapter phi's backbone starts from; none: a fresh LoRA"),
    )
    tokenizer: str | None = field(
        default=None, metadata=_h("tokenizer (null: theta's; phi's must be identical)")
    )
    epochs: int = field(default=30, metadata=_h("epochs over the pool (paper 30)", gt=0))
    batch_size: int = field(default=16, metadata=_h("samples per phi step (paper 16)", gt=0))
    inner_lr: float = field(default=2e-4, metadata=_h("theta's inner learning rate", min=0))
    phi_lr: float = field(default=2e-4, metadata=_h("phi's learning rate (paper 2e-4)", min=0))
    weight_decay: float = field(default=0.01, metadata=_h("AdamW weight decay", min=0))
    eval_every: int = field(default=10, metadata=_h("validate and save every N phi steps", gt=0))
    val_size: int = field(default=16, metadata=_h("held-out pool records", gt=0))
    val_seed: int = field(default=42, metadata=_h("seed of the held-out split"))
    shuffle_seed: int = field(default=1, metadata=_h("seed of the pool's order"))
    max_length: int = field(default=512, metadata=_h("evidence truncation (tokens)", gt=0))
    dummy_step: bool = field(default=True, metadata=_h("one dummy inner step before the meta step"))
    lora_r: int = field(default=64, metadata=_h("fresh LoRA rank", gt=0))
    lora_alpha: int = field(default=16, metadata=_h("fresh LoRA alpha", gt=0))
    lora_dropout: float = field(default=0.1, metadata=_h("fresh LoRA dropout", min=0))
    quantization: Literal["auto", "nf4", "none"] = field(
        default="auto", metadata=_h("nf4 (QLoRA) when bitsandbytes and a GPU are present")
    )
    device: str = field(default="auto", metadata=_h("auto, cpu, cuda, cuda:1, ..."))
    seed: int = field(default=42, metadata=_h("model initialisation (LoRA, head)"))
    threads: int | None = field(default=None, metadata=_h("torch CPU threads", gt=0))
    resume: bool = field(
        default=True,
        metadata=_h("continue the run in output_dir (the same settings) when it holds one"),
    )
    overwrite: bool = field(
        default=False, metadata=_h("empty output_dir first when it holds another run")
    )
    progress: bool = fields.progress()

    def validate(self) -> None:
        if self.output_dir is None:
            raise FieldError("output_dir", "is required (the output folder)")
        if self.preset == "paper" and not self.pool:
            raise FieldError(
                "pool",
                "is required: the Train-Attention pool is not distributed; build it from LAMA "
                "T-REx with cl_data.ckl.build_lama_ckl (train_attention_traindata.jsonl), or run "
                "--preset smoke",
            )
        for key in ("theta_model", "phi_model", "tokenizer"):
            if getattr(self, key) is not None:
                check_model_folder(getattr(self, key), key, config_json=key != "tokenizer")


TA_SMOKE: dict[str, Any] = {
    "theta_model": "tiny-random-llama",
    "phi_model": "tiny-random-llama",
    "theta_adapter": None,
    "phi_adapter": None,
    "epochs": 2,
    "batch_size": 4,
    "eval_every": 4,
    "max_length": 64,
    "lora_r": 4,
    "lora_alpha": 8,
    "lora_dropout": 0.0,
    "pool_size": 40,
    "threads": 1,  # tiny models: one thread is fastest, and much faster on a busy machine
}
TA_SMOKE_WIDTH = {"theta": 64, "phi": 32}


def train_attention_presets(name: str | None, early: dict[str, Any]) -> dict[str, Any]:
    return dict(TA_SMOKE) if name == "smoke" else {}


# -- apps/reproduce_taalm.py --------------------------------------------------------------------
#: method names of the CKL app -> registered cl-methods names; ``taalm+X+Y`` combines TAALM with
#: X and Y (its config's ``combine_with``)
CKL_METHODS = {
    "finetune": "ckl_finetune",
    "oracle": "ckl_oracle",
    "kadapter": "kadapter",
    "recadam": "recadam",
    "mixreview": "mixreview",
    "rho1": "rho1",
    "taalm": "taalm",
}

PAPER: dict[str, dict[str, Any]] = {
    "lama-ckl": {
        "model": "meta-llama/Llama-2-7b-hf",
        "theta_adapter": "Anonymous-TAALM/Llama-2-7b",
        "epochs": 30,
        "batch_size": 64,
        "batch_size_with_replay": 32,
        "replay_field": "evidence",
        "checkpoint_every": 8,  # one epoch of 500 documents at 64 per step
        "eval_before_training": True,
    },
    "temporalwiki": {
        "model": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        "theta_adapter": "Anonymous-TAALM/Llama-2-1b",
        "epochs": 1,
        "batch_size": 64,
        "batch_size_with_replay": 64,
        "replay_field": "text",
        "checkpoint_every": 200,
        "eval_before_training": False,
    },
}
SMOKE: dict[str, Any] = {
    "model": "tiny-random-llama",
    "theta_adapter": None,
    "lr": 1e-3,
    "max_length": 96,
    "lora_r": 4,
    "lora_alpha": 8,
    "lora_dropout": 0.0,
    "micro_batch_rows": 4,
    "limit_train": 16,
    "limit_probes": 16,
    "eval_batch_size": 16,
    "checkpoint_every": 0,
    "threads": 1,
}
SMOKE_BY_BENCHMARK: dict[str, dict[str, Any]] = {
    "lama-ckl": {"epochs": 3, "batch_size": 8, "batch_size_with_replay": 4},
    "temporalwiki": {"batch_size": 8, "batch_size_with_replay": 8},
}
#: smoke values of a method's config (and of the section of that name in a combining method's
#: config): K-Adapter's taps must exist in a 3-layer model
SMOKE_METHOD: dict[str, dict[str, Any]] = {"kadapter": {"taps": [1, 2], "dropout": 0.1}}


def taalm_presets(name: str | None, early: dict[str, Any]) -> dict[str, Any]:
    values = dict(PAPER.get(str(early.get("benchmark")), {}))
    if name == "smoke":
        values.update(SMOKE, **SMOKE_BY_BENCHMARK.get(str(early.get("benchmark")), {}))
        method = CKL_METHODS.get(str(early.get("method")))
        if method is not None:
            fields = {f.name for f in dataclasses.fields(get_method_class(method).config_class)}
            section = dict(SMOKE_METHOD.get(method, {}))
            section.update({k: v for k, v in SMOKE_METHOD.items() if k in fields})
            if section:
                values["method_config"] = section
    return values


@dataclass
class TaalmRun:
    """Defaults: the paper's, per benchmark (filled in by the paper preset)."""

    benchmark: Literal["lama-ckl", "temporalwiki"] | None = field(
        default=None, metadata=_h("lama-ckl or temporalwiki (required)")
    )
    method: str | None = field(
        default=None,
        metadata=_h("finetune, oracle, kadapter, recadam, mixreview, rho1, taalm, or "
                    "taalm+X[+Y...] with X in kadapter, recadam, mixreview, rho1 (required)"),
    )  # fmt: skip
    preset: Literal["paper", "smoke"] = field(
        default="paper", metadata=_h("smoke: tiny random Llama, offline, seconds on a CPU")
    )
    output_dir: str | None = field(default=None, metadata=_h("output folder (required)"))
    resume: bool = field(default=False, metadata=_h("continue the run in output_dir"))
    data_dir: str | None = field(
        default=None, metadata=_h("LAMA_ckl/ and TemporalWiki/eval/ (null: $CL_SHARED_DATA/taalm)")
    )
    twiki_diffset_dir: str | None = field(
        default=None, metadata=_h("TemporalWiki training diffsets (not distributed)")
    )
    replay_files: tuple[str, ...] = field(
        default=(), metadata=_h("replay JSON-lines files (null: the benchmark's default)")
    )
    replay_field: str | None = field(
        default=None, metadata=_h("field of a replay record holding its text")
    )
    model: str | None = field(default=None, metadata=_h("theta: hub id or local folder"))
    tokenizer: str | None = field(
        default=None, metadata=_h("null: theta's (phi's must be identical)")
    )
    theta_adapter: str | None = field(
        default=None, metadata=_h("published LoRA adapter theta starts from; none: a fresh LoRA")
    )
    quantization: Literal["auto", "nf4", "none"] = field(
        default="auto", metadata=_h("theta's base: nf4 (QLoRA) when available")
    )
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = field(
        default="auto", metadata=_h("auto: bf16 on a GPU")
    )
    gradient_checkpointing: bool = field(default=False, metadata=_h("recompute activations"))
    seed: int = field(default=42, metadata=_h("seed of theta's fresh LoRA and the data order"))
    log_with: str = fields.log_with()
    progress: bool = fields.progress()
    eval_before_training: bool | None = field(
        default=None, metadata=_h("TemporalWiki: also evaluate theta0 (LAMA-ckl always does)")
    )
    epochs: int | None = field(default=None, metadata=_h("paper: LAMA-ckl 30, TWiki 1", gt=0))
    lr: float = field(default=1e-4, metadata=_h("AdamW learning rate (paper 1e-4)", min=0))
    weight_decay: float = field(default=0.01, metadata=_h("AdamW weight decay", min=0))
    adam_beta1: float = field(default=0.9, metadata=_h("AdamW beta1", min=0))
    adam_beta2: float = field(default=0.999, metadata=_h("AdamW beta2", min=0))
    adam_eps: float = field(default=1e-8, metadata=_h("AdamW eps", gt=0))
    max_grad_norm: float = field(default=0.0, metadata=_h("clipping (0: none, as the reference)"))
    max_length: int = field(default=512, metadata=_h("evidence truncation (tokens)", gt=0))
    batch_size: int | None = field(
        default=None, metadata=_h("training documents per optimizer step (paper 64)", gt=0)
    )
    batch_size_with_replay: int | None = field(
        default=None,
        metadata=_h("... for a method that replays (paper: LAMA-ckl 32, TWiki 64)", gt=0),
    )
    micro_batch_rows: int = field(
        default=8, metadata=_h("rows of one micro-batch (training + replay documents)", gt=0)
    )
    eval_batch_size: int = field(default=16, metadata=_h("probes per evaluation batch", gt=0))
    checkpoint_every: int | None = field(
        default=None, metadata=_h("optimizer steps between checkpoints", min=0)
    )
    max_consecutive_nonfinite: int = fields.max_nonfinite()
    keep_checkpoints: int = field(default=2, metadata=_h("checkpoints kept", gt=0))
    lora_r: int = field(default=64, metadata=_h("fresh LoRA rank", gt=0))
    lora_alpha: int = field(default=16, metadata=_h("fresh LoRA alpha", gt=0))
    lora_dropout: float = field(default=0.1, metadata=_h("fresh LoRA dropout", min=0))
    lora_targets: tuple[str, ...] = field(
        default=LLAMA_LORA_TARGETS, metadata=_h("modules of the fresh LoRA")
    )
    probe_kind: Literal["descriptive", "schematic"] = field(
        default="descriptive", metadata=_h("LAMA-ckl probe form")
    )
    limit_train: int | None = field(default=None, metadata=_h("training documents kept", gt=0))
    limit_probes: int | None = field(default=None, metadata=_h("probes kept per set", gt=0))
    smoke_vocab: int = field(default=1024, metadata=_h("smoke tokenizer's vocabulary", gt=0))
    smoke_layers: int = field(default=3, metadata=_h("smoke theta's layers", gt=0))
    smoke_width: int = field(default=64, metadata=_h("smoke theta's width", gt=0))
    threads: int | None = field(default=None, metadata=_h("torch CPU threads", gt=0))
    method_config: MethodConfig | None = None

    def validate(self) -> None:
        for key in ("benchmark", "method", "output_dir"):
            if getattr(self, key) is None:
                raise FieldError(key, "is required")
        for key in ("model", "tokenizer"):
            value = getattr(self, key)
            if value is not None and value != SMOKE["model"]:
                check_model_folder(value, key, config_json=key == "model")

    def label(self) -> str:
        """The method as the paper's tables name it (``taalm+mixreview``)."""
        parts = getattr(self.method_config, "combine_with", ())
        return "+".join([str(self.method), *parts])
