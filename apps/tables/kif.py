"""Recurrent-KIF's settings: the paper's hyperparameters (spec recurrent-kif.md section 8) for T5
and LLaMA, the smoke preset, and the run configuration of ``apps/reproduce_kif.py``. A setting
left ``null`` takes the paper's value for the model family."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from common import fields
from common.config import FieldError
from common.fields import h as _h
from common.models import check_model_folder

from cl_methods import MethodConfig

# T5-large / Flan-T5-XL (fp32). Global batch 8 = 2 x 4.
T5: dict[str, Any] = {
    "epochs": 10,
    "lr": 3e-4,
    "lr_scheduler": "linear",
    "warmup_steps": 50,
    "per_device_batch": 2,
    "grad_accum": 4,
    "eval_batch_size": 32,
    "outer_batch_size": 8,
}
# LLaMA-2 7B / 13B chat: int8 base + fp16 autocast (bf16 accepted). Global batch 64 = 16 x 4.
LLAMA: dict[str, Any] = {
    **T5,
    "per_device_batch": 16,
    "outer_batch_size": 64,
    "eval_batch_size": 16,
}

# Smoke: a tiny random T5 with the byte tokenizer on the first 3 tasks of order 4, small samples.
SMOKE: dict[str, Any] = {
    "num_tasks": 3,
    "max_train_samples": 64,
    "max_test_samples": 8,
    "epochs": 5,
    "lr": 2e-2,
    "lr_scheduler": "linear",
    "warmup_steps": 2,
    "per_device_batch": 8,
    "grad_accum": 1,
    "max_source_length": 192,
    "max_target_length": 16,
    "max_new_tokens": 12,
    "eval_batch_size": 8,
    "outer_batch_size": 4,
    "method_config": {"inner_iterations": 3, "outer_iterations": 2},
}


def presets(name: str | None, early: dict[str, Any]) -> dict[str, Any]:
    return dict(SMOKE) if name == "smoke" else {}


def paper(causal_lm: bool) -> dict[str, Any]:
    return LLAMA if causal_lm else T5


@dataclass
class KIFRun:
    order: Literal[1, 2, 3, 4, 5, 6] | None = field(
        default=None, metadata=_h("O-LoRA order number (null: 1; smoke: 4)")
    )
    kif_order: Literal[1, 2, 3, 4, 5, 6] | None = field(
        default=None,
        metadata=_h("the Recurrent-KIF reference's order id instead (1 -> O-LoRA 4, ...)"),
    )
    tasks: tuple[str, ...] = field(default=(), metadata=_h("task names instead of an order"))
    num_tasks: int | None = field(
        default=None, metadata=_h("train only the first N tasks of the order", gt=0)
    )
    method: str = field(default="kif", metadata=_h("kif (Recurrent-KIF)"))
    preset: Literal["paper", "smoke"] = field(
        default="paper",
        metadata=_h("smoke: tiny random T5 + byte tokenizer, first 3 tasks of order 4"),
    )
    model: str | None = field(
        default=None, metadata=_h("hub id or local folder (null: t5-large; smoke: tiny T5)")
    )
    data_dir: str | None = field(
        default=None, metadata=_h("null: $CL_SHARED_DATA/long_sequence_instruct")
    )
    test_file: tuple[str, ...] = field(
        default=(), metadata=_h("TASK=PATH: replace a task's test file (repeatable)")
    )
    output_dir: str | None = field(
        default=None, metadata=_h("null: runs/reproduce_kif/order<N>[-smoke]")
    )
    resume: bool = field(default=False, metadata=_h("continue an interrupted run in output_dir"))
    overwrite: bool = field(
        default=False, metadata=_h("empty output_dir first when it holds another run")
    )
    max_train_samples: int | None = field(default=None, metadata=_h("per task, seeded", gt=0))
    max_test_samples: int | None = field(default=None, metadata=_h("per task, seeded", gt=0))
    balanced: bool = field(default=False, metadata=_h("class-balanced sub-sampling"))
    seed: int = field(default=42, metadata=_h("seed of the model, data and memory"))
    epochs: int | None = field(default=None, metadata=_h("epochs per task (paper 10)", gt=0))
    lr: float | None = field(default=None, metadata=_h("inner AdamW lr (paper 3e-4)", min=0))
    lr_scheduler: Literal["constant", "linear", "cosine"] | None = field(
        default=None, metadata=_h("paper: linear")
    )
    warmup_steps: int | None = field(default=None, metadata=_h("paper 50", min=0))
    per_device_batch: int | None = field(default=None, metadata=_h("paper: T5 2, LLaMA 16", gt=0))
    grad_accum: int | None = field(default=None, metadata=_h("paper 4", gt=0))
    max_grad_norm: float = field(default=1.0, metadata=_h("gradient clipping", min=0))
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(
        default="auto", metadata=_h("auto: the paper's (T5 fp32; LLaMA fp16 on a GPU)")
    )
    load_in_8bit: bool = field(
        default=False, metadata=_h("the paper's int8 LLaMA base (not supported yet)")
    )
    max_source_length: int = field(default=1024, metadata=_h("T5 source tokens", gt=0))
    max_target_length: int = field(default=128, metadata=_h("T5 target tokens", gt=0))
    cutoff_len: int = field(default=512, metadata=_h("LLaMA sequence cutoff", gt=0))
    max_new_tokens: int = field(default=128, metadata=_h("greedy decoding length", gt=0))
    truncation: Literal["released", "cut"] = field(
        default="released",
        metadata=_h("released: as Recurrent-KIF's release, training inputs are cut to the limit "
                    "(max_source_length / cutoff_len) and test inputs are not cut; cut: test "
                    "inputs are cut to the same limit"),
    )  # fmt: skip
    eval_batch_size: int | None = field(default=None, metadata=_h("paper: T5 32, LLaMA 16", gt=0))
    outer_batch_size: int | None = field(
        default=None, metadata=_h("B_out per device (paper: T5 8, LLaMA 64)", gt=0)
    )
    checkpoint_every: int = field(
        default=0, metadata=_h("optimizer steps between checkpoints", min=0)
    )
    max_consecutive_nonfinite: int = fields.max_nonfinite()
    log_with: str = fields.log_with()
    progress: bool = fields.progress()
    plot: bool = fields.plot()
    method_config: MethodConfig | None = None

    def validate(self) -> None:
        if self.order is not None and self.kif_order is not None:
            raise FieldError("kif_order", "give order (O-LoRA numbering) or kif_order, not both")
        if getattr(self.method_config, "outer_batch_size", 8) != 8:
            raise FieldError(
                "method_config.outer_batch_size", "set outer_batch_size (T5 8, LLaMA 64) instead"
            )
        for item in self.test_file:
            name, sep, path = item.partition("=")
            if not sep or not name.strip() or not path.strip():
                raise FieldError("test_file", f"expects TASK=PATH, got {item!r}")
        if self.model is not None:
            check_model_folder(self.model, "model")

    def finalize(self, app: str, config_file: str | None) -> None:
        from cl_data import kif_to_olora

        if self.kif_order is not None:
            self.order, self.kif_order = kif_to_olora(self.kif_order), None
        if self.order is None:
            self.order = 4 if self.preset == "smoke" else 1
        if self.output_dir is None:
            suffix = "-smoke" if self.preset == "smoke" else ""
            self.output_dir = f"runs/{app}/order{self.order}{suffix}"
