"""Settings of ``apps/run_cl.py`` (spec classic-methods.md): the sections of a classic run's
YAML file (``backbone``, ``data``, ``trainer``, ``eval``, ``method_config``) with the spec's
defaults. The shipped experiments are YAML files in ``apps/configs/classic/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from common import fields
from common.config import FieldError
from common.fields import h as _h
from common.models import check_model_folder

from cl_methods import MethodConfig, available_methods

#: every registered method runs in run_cl except the CKL family (documents, not labelled tasks)
CKL_ONLY = {"ckl_finetune", "ckl_oracle", "kadapter", "recadam", "mixreview", "rho1", "taalm"}
CLASSIC_METHODS = {m: m for m in available_methods() if m not in CKL_ONLY}
#: data family of each dataset (prompt-tuning init text, spec §3.3)
DATA_FAMILY = {
    "topic3": "topic",
    "concept_1k": "concept_1k",
    "clinc150": "intent",
    "banking77": "intent",
    "fewrel": "relation",
    "tacred": "relation",
}
DATA_NAMES = (*DATA_FAMILY, "dir")
BUILTIN_BACKBONES = ("minilm", "tiny-bert", "tiny-llama", "tiny-llama-wide")


@dataclass
class Backbone:
    model: str = field(
        default="minilm",
        metadata=_h(
            "minilm (bundled all-MiniLM-L6-v2), tiny-bert, tiny-llama(-wide), a folder or hub id"
        ),
    )
    kind: Literal["encoder", "causal_lm"] = field(
        default="encoder", metadata=_h("AutoModel (encoder) or AutoModelForCausalLM")
    )
    head: Literal["linear", "cosine", "none"] = field(
        default="linear", metadata=_h("per-task heads, or none (generation + exact match)")
    )
    cosine_scale: float | None = field(
        default=None, metadata=_h("cosine head scale (null: 1 fixed, 16 when learnable)", gt=0)
    )
    cosine_scale_learnable: bool = field(default=False, metadata=_h("learn the cosine scale"))
    feature: Literal["cls_token", "last_token"] = field(
        default="cls_token", metadata=_h("feature of a heads model (generative: last_token)")
    )
    max_length: int = field(default=128, metadata=_h("input tokens", gt=0))
    max_new_tokens: int = field(default=10, metadata=_h("generation length", gt=0))
    prompt: str = field(
        default="none", metadata=_h("cl_data.classic prompt: none, default, qa, ...")
    )
    revision: str | None = field(
        default=None,
        metadata=_h(
            "hub revision of backbone.model (a branch, tag or commit: Pythia's step143000)"
        ),
    )
    random_init: bool = field(
        default=False,
        metadata=_h("the backbone's architecture with fresh random weights (seeded by seed)"),
    )


@dataclass
class Data:
    name: str = field(
        default="topic3",
        metadata=_h("topic3, concept_1k, clinc150, banking77, fewrel, tacred, or dir (a "
                    "continual_{data,config}.json folder)"),
    )  # fmt: skip
    dir: str | None = field(
        default=None,
        metadata=_h("folder of data.name=dir, Concept-1K, FewRel or TACRED (CLINC150/BANKING77: "
                    "the shared copy by default)"),
    )  # fmt: skip
    seed: int = field(default=1, metadata=_h("seed of the dataset's sampling"))
    num_tasks: int | None = field(default=None, metadata=_h("use only the first N tasks", gt=0))
    train_per_class: int = field(
        default=3000, metadata=_h("rows per class cap (topic3 spec 3000)", gt=0)
    )
    test_per_class: int = field(
        default=2000, metadata=_h("rows per class cap (topic3 spec 2000)", gt=0)
    )
    max_train_per_task: int | None = field(default=None, metadata=_h("first N rows", gt=0))
    max_test_per_task: int | None = field(default=None, metadata=_h("first N rows", gt=0))
    max_train_eval_per_task: int | None = field(
        default=None, metadata=_h("IIL memorisation: train rows scored per task", gt=0)
    )
    concept_num_tasks: int = field(
        default=10,
        metadata=_h(
            "Concept-1K: tasks the concepts are split into (1: the ICL baselines' one)", gt=0
        ),
    )


@dataclass
class Trainer:
    epochs: int = field(default=5, metadata=_h("epochs per task (spec 5)", gt=0))
    lr: float = field(default=1e-5, metadata=_h("learning rate (spec 1e-5)", min=0))
    batch_size: int = field(default=4, metadata=_h("examples per micro-batch", gt=0))
    grad_accum: int = field(default=1, metadata=_h("gradient accumulation", gt=0))
    weight_decay: float = field(default=5e-4, metadata=_h("AdamW weight decay", min=0))
    max_grad_norm: float = field(default=0.0, metadata=_h("clipping (spec: none)", min=0))
    lr_scheduler: Literal["constant", "linear", "cosine"] = field(
        default="constant", metadata=_h("spec: constant")
    )
    warmup_steps: int = field(default=0, metadata=_h("warm-up steps", min=0))
    mixed_precision: Literal["no", "bf16", "fp16"] = field(
        default="no", metadata=_h("accelerate's mixed precision")
    )
    param_groups: dict[str, dict[str, float]] = field(
        default_factory=dict,
        metadata=_h("optimizer settings by parameter-name prefix, e.g. {heads: {lr: 1.0e-3}}"),
    )
    checkpoint_every: int = field(default=0, metadata=_h("steps between checkpoints", min=0))
    max_consecutive_nonfinite: int = fields.max_nonfinite()
    log_with: tuple[str, ...] = field(default=(), metadata=_h("accelerate trackers"))
    progress: bool = fields.progress()


@dataclass
class Eval:
    batch_size: int = field(default=32, metadata=_h("evaluation batch size", gt=0))
    probe: bool = field(default=False, metadata=_h("linear/cosine/prototype probes after tasks"))
    probe_epochs: int = field(default=20, metadata=_h("epochs of the linear probes", gt=0))


@dataclass
class RunCL:
    name: str | None = field(default=None, metadata=_h("run name (null: the config file's)"))
    seed: int = field(default=1, metadata=_h("seed of the run"))
    seeds: tuple[int, ...] = field(
        default=(),
        metadata=_h("run once per seed into <output_dir>/seed<N>, then write <output_dir>/"
                    "summary.md (mean ± std, mean matrix: cl-eval aggregate); empty: one run"),
    )  # fmt: skip
    output_dir: str | None = field(default=None, metadata=_h("null: runs/classic/<name>"))
    resume: bool = field(default=False, metadata=_h("continue an interrupted run in output_dir"))
    overwrite: bool = field(
        default=False, metadata=_h("empty output_dir first when it holds another run")
    )
    method: str = field(default="seq", metadata=_h("any registered classic method"))
    scenario: Literal["CIL", "TIL", "IIL"] = field(
        default="CIL", metadata=_h("class-, task- or instance-incremental")
    )
    backbone: Backbone = field(default_factory=Backbone)
    data: Data = field(default_factory=Data)
    trainer: Trainer = field(default_factory=Trainer)
    eval: Eval = field(default_factory=Eval)
    method_config: MethodConfig | None = None

    def validate(self) -> None:
        heads = self.backbone.head != "none"
        if self.scenario == "IIL" and heads:
            raise FieldError("backbone.head", "IIL is generative: set it to none (causal_lm)")
        if not heads and self.backbone.kind != "causal_lm":
            raise FieldError("backbone.head", "none needs backbone.kind causal_lm")
        if self.data.name not in DATA_NAMES:
            known = ", ".join(DATA_NAMES)
            raise FieldError("data.name", f"must be one of {known}: {self.data.name}")
        if self.data.name in ("fewrel", "tacred") and not self.data.dir:
            raise FieldError(
                "data.dir", f"data.name {self.data.name} needs the folder of its preprocessed files"
            )
        if self.data.name == "dir" and not self.data.dir:
            raise FieldError("data.dir", "data.name dir needs a continual_{data,config} folder")
        if self.backbone.model not in BUILTIN_BACKBONES:
            check_model_folder(self.backbone.model, "backbone.model")
        if self.backbone.revision is not None and (
            self.backbone.model in BUILTIN_BACKBONES or Path(self.backbone.model).is_dir()
        ):
            raise FieldError("backbone.revision", "applies to hub ids only, not a folder/built-in")
        if self.method == "icl" and heads:
            raise FieldError("backbone.head", "icl generates answers: set it to none (causal_lm)")
        if len(set(self.seeds)) != len(self.seeds):
            raise FieldError("seeds", f"repeats a seed: {list(self.seeds)}")

    def finalize(self, app: str, config_file: str | None) -> None:
        if self.name is None:
            self.name = Path(config_file).stem if config_file else f"{self.method}-default"
        if self.output_dir is None:
            self.output_dir = f"runs/classic/{self.name}"
