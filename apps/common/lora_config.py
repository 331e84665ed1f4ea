"""Settings of the O-LoRA and N-LoRA recipes (the 15-task CL benchmark, one frozen model, one
method from cl-methods, greedy generation scored by exact match). ``None`` means the paper's
value for the order and model family (the app's table), or the preset's."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cl_methods import MethodConfig

from . import fields
from .config import FieldError
from .fields import h as _h
from .models import check_model_folder

LORA_METHODS = {m: m for m in ("olora", "nlora", "seqft", "seqlora", "inclora", "mtl")}
SMOKE_ARCHS = ("t5", "llama", "llama-gqa")


@dataclass
class LoRARunConfig:
    order: Literal[1, 2, 3, 4, 5, 6] = field(default=1, metadata=_h("task order of the paper"))
    method: str = field(default="olora", metadata=_h("the method"))
    preset: Literal["paper", "smoke"] = field(
        default="paper",
        metadata=_h("smoke: a tiny random model (--smoke-arch) + byte tokenizer on the embedded "
                    "synthetic benchmark, no download"),
    )  # fmt: skip
    smoke_arch: Literal["t5", "llama", "llama-gqa"] = field(
        default="t5",
        metadata=_h("smoke model: tiny T5, tiny LLaMA, or tiny LLaMA with grouped-query attention"),
    )
    model: str | None = field(
        default=None,
        metadata=_h("hub id or local folder (null: t5-large; smoke: the --smoke-arch model)"),
    )
    data_dir: str | None = field(
        default=None,
        metadata=_h("CL_Benchmark folder (null: $CL_SHARED_DATA/CL_Benchmark; smoke: synthetic)"),
    )
    output_dir: str | None = field(
        default=None, metadata=_h("null: runs/<app>/order<N>-<method>[-smoke]")
    )
    resume: bool = field(default=False, metadata=_h("continue an interrupted run in output_dir"))
    overwrite: bool = field(
        default=False, metadata=_h("empty output_dir first when it holds another run")
    )
    max_train_samples: int | None = field(default=None, metadata=_h("per task, seeded", gt=0))
    max_test_samples: int | None = field(default=None, metadata=_h("per task, seeded", gt=0))
    balanced: bool = field(default=False, metadata=_h("class-balanced sub-sampling"))
    drop_unlabelled: bool = field(
        default=False, metadata=_h("drop MNLI test rows labelled '-' (kept: they count as errors)")
    )
    seed: int = field(default=42, metadata=_h("seed of the model, data order and sub-sampling"))
    lr: float | None = field(
        default=None, metadata=_h("learning rate of every task (null: the paper's table)", min=0)
    )
    epochs: int | None = field(
        default=None, metadata=_h("epochs of every task (null: the paper's table)", gt=0)
    )
    global_batch: int | None = field(
        default=None,
        metadata=_h("per-device batch x accumulation x processes (null: the paper's)", gt=0),
    )
    per_device_batch: int | None = field(
        default=None, metadata=_h("examples per micro-batch (null: the paper's)", gt=0)
    )
    max_grad_norm: float = field(default=1.0, metadata=_h("gradient clipping (0: none)", min=0))
    weight_decay: float = field(default=0.0, metadata=_h("AdamW weight decay", min=0))
    lr_scheduler: Literal["constant", "linear", "cosine"] = field(
        default="constant", metadata=_h("learning-rate schedule")
    )
    warmup_steps: int = field(default=0, metadata=_h("warm-up steps", min=0))
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(
        default="auto", metadata=_h("mixed precision; auto: bf16 on a GPU, fp32 on the CPU")
    )
    model_dtype: Literal["auto", "fp32", "bf16", "fp16"] = field(
        default="auto",
        metadata=_h("dtype of the frozen base weights; auto: bf16 for a causal LM on a GPU"),
    )
    lambda_1: float | None = field(
        default=None,
        metadata=_h("the method's lambda_1 for every task (null: the paper's table)", min=0),
    )
    max_source_length: int = field(default=512, metadata=_h("source tokens (paper 512)", gt=0))
    max_target_length: int = field(default=50, metadata=_h("target tokens (paper 50)", gt=0))
    max_new_tokens: int = field(default=50, metadata=_h("greedy decoding length (paper 50)", gt=0))
    truncation: Literal["released", "cut"] = field(
        default="released",
        metadata=_h("inputs over max_source_length: released = as the O-LoRA/N-LoRA collator "
                    "(decode the kept ids, tokenise the text again; causal LMs: BOS + prompt, "
                    "answer + EOS, left padding); cut = cut the token ids"),
    )  # fmt: skip
    eval_batch_size: int = field(default=32, metadata=_h("generation batch size", gt=0))
    eval_future: bool = field(
        default=False, metadata=_h("evaluate every task after each task (FWT needs it)")
    )
    eval_before: bool = field(
        default=False, metadata=_h("evaluate the untrained model first (FWT baseline)")
    )
    checkpoint_every: int = field(
        default=0, metadata=_h("optimizer steps between checkpoints (0: after each task)", min=0)
    )
    max_consecutive_nonfinite: int = fields.max_nonfinite()
    log_with: str = fields.log_with()
    progress: bool = fields.progress()
    plot: bool = fields.plot()
    analysis: bool = field(
        default=True,
        metadata=_h("task-update analysis (collision rate, subspace overlap) of stacked adapters"),
    )
    method_config: MethodConfig | None = None

    def validate(self) -> None:
        if self.preset == "smoke" and self.data_dir is None and self.order > 3:
            raise FieldError(
                "order",
                f"the embedded synthetic benchmark has orders 1-3 only; pass --data-dir for "
                f"order {self.order}",
            )
        fields = vars(self.method_config) if self.method_config is not None else {}
        for name in ("lambda_1", "lambda_2"):
            if getattr(self, name, None) is not None and name not in fields:
                raise FieldError(name, f"does not apply to method {self.method!r}")
        if self.model is not None:
            check_model_folder(self.model, "model")
        world = int(os.environ.get("WORLD_SIZE", "1"))
        both = self.global_batch and self.per_device_batch
        if both and self.global_batch % (self.per_device_batch * world):
            raise FieldError(
                "global_batch",
                f"{self.global_batch} is not a multiple of the per-device batch "
                f"{self.per_device_batch} x {world} process(es)",
            )

    def finalize(self, app: str, config_file: str | None) -> None:
        """Fill the output folder's default name (so that the saved file holds it)."""
        if self.output_dir is None:
            suffix = "-smoke" if self.preset == "smoke" else ""
            if self.preset == "smoke" and self.model is None and self.smoke_arch != "t5":
                suffix += f"-{self.smoke_arch}"
            name = f"order{self.order}-{self.method}{suffix}"
            self.output_dir = str(Path("runs") / app / name)


# The smoke preset: a tiny T5 or LLaMA on the embedded synthetic benchmark (four topic tasks
# shaped like order 1), a few minutes on 2 CPU cores. The tiny random LLaMA needs a larger
# learning rate than the tiny T5 to learn anything in 8 epochs with q/v adapters only.
SMOKE: dict[str, Any] = {
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
SMOKE_LR_BY_ARCH = {"llama": 2e-2, "llama-gqa": 2e-2}


def presets(name: str | None, early: dict[str, Any]) -> dict[str, Any]:
    if name != "smoke":
        return {}
    lr = SMOKE_LR_BY_ARCH.get(str(early.get("smoke_arch")), SMOKE["lr"])
    return {**SMOKE, "lr": lr}
