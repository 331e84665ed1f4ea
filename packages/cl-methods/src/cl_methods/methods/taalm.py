"""TAALM deployment (spec §5): a frozen Train-Attention phi weights theta's tokens, alone or inside
another CKL method's loss ("TAALM + X", replay documents included).

``combine_with`` names the CKL methods to combine (``kadapter``, ``recadam``, ``mixreview``,
``rho1``; e.g. the paper's TAALM + K-Adapter + Mix-review + RecAdam); each hook is delegated to
the combined methods in a fixed order (K-Adapter first, so it wraps the model before anything
snapshots it). At most one of them may own the optimizer (RecAdam) and one the loss (RHO-1);
otherwise the loss is L_w. phi's weights sigmoid(phi(x))[:, 1:] are computed under no_grad with
phi in eval mode; known-token masking is off (the reported runs disable it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..method import Method, MethodConfig, StepInfo, TaskContext
from ..registry import build_method, register_method
from ..taalm.checkpoint import freeze, load_train_attention, read_train_attention_meta
from ..taalm.ckl_method import Batch, CklConfig, CklMethod, batch_ids_and_mask
from ..taalm.model import TrainAttention
from .kadapter import KAdapterConfig
from .mixreview import MixReviewConfig
from .recadam import RecAdamConfig
from .rho1 import Rho1Config

COMBINABLE = ("kadapter", "recadam", "mixreview", "rho1")
PART_CONFIGS = {
    "kadapter": KAdapterConfig,
    "recadam": RecAdamConfig,
    "mixreview": MixReviewConfig,
    "rho1": Rho1Config,
}


@dataclass
class TaalmConfig(MethodConfig):
    """phi_checkpoint: folder written by ``save_train_attention`` (apps/train_attention.py);
    combine_with: CKL methods to combine, each configured by its own section below."""

    phi_checkpoint: str | None = field(
        default=None,
        metadata={"help": "Train-Attention folder written by apps/train_attention.py (required)"},
    )
    combine_with: tuple[str, ...] = field(
        default=(), metadata={"help": f"CKL methods combined with TAALM, any of {COMBINABLE}"}
    )
    known_masking: bool = field(
        default=False,
        metadata={"help": "drop targets theta already predicts (off in the paper's runs)"},
    )
    phi_quantization: Literal["auto", "nf4", "none"] = field(
        default="auto", metadata={"help": "phi's base: nf4 (QLoRA) when available, or none"}
    )
    kadapter: KAdapterConfig = field(default_factory=KAdapterConfig)
    recadam: RecAdamConfig = field(default_factory=RecAdamConfig)
    mixreview: MixReviewConfig = field(default_factory=MixReviewConfig)
    rho1: Rho1Config = field(default_factory=Rho1Config)

    def __post_init__(self) -> None:
        for name, cls in PART_CONFIGS.items():  # sections given as mappings
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, cls(**value))
        unknown = [n for n in self.combine_with if n not in COMBINABLE]
        if unknown:
            raise ValueError(
                f"combine_with: taalm cannot combine with {unknown}; choose from {COMBINABLE}"
            )
        self.combine_with = tuple(self.combine_with)


def _is_quantized(module: nn.Module) -> bool:
    """bitsandbytes 4-bit weights cannot be moved with ``.to``."""
    return any(type(p).__name__ == "Params4bit" for p in module.parameters())


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(CklMethod, name)


@register_method("taalm")
class Taalm(Method):
    config_class = TaalmConfig

    def __init__(self, config: TaalmConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        names = [n for n in COMBINABLE if n in cfg.combine_with] or ["ckl_finetune"]
        self.parts: list[CklMethod] = []
        for n in names:
            section = getattr(cfg, n, None)
            part_cfg = (
                dataclasses.replace(section, known_masking=cfg.known_masking)
                if section is not None
                else CklConfig(known_masking=cfg.known_masking)
            )
            part = build_method(n, part_cfg)
            assert isinstance(part, CklMethod)
            part.weighter = self.phi_weights
            self.parts.append(part)
        self._optimizer_owner = self._single_owner("configure_optimizer")
        self._loss_owner = self._single_owner("compute_loss") or self.parts[0]
        self.phi: TrainAttention | None = None

    def _single_owner(self, hook: str) -> CklMethod | None:
        owners = [p for p in self.parts if _overrides(type(p), hook)]
        if len(owners) > 1:
            raise ValueError(f"taalm: {[p.name for p in owners]} all define {hook}; combine one")
        return owners[0] if owners else None

    # -- phi ----------------------------------------------------------------------------------
    def attach_train_attention(self, phi: TrainAttention) -> None:
        """Use this (trained) phi; it is frozen and put in eval mode."""
        self.phi = freeze(phi)

    @torch.no_grad()
    def phi_weights(self, batch: Batch) -> torch.Tensor:
        if self.phi is None:
            raise RuntimeError("taalm has no Train-Attention: set phi_checkpoint or attach one")
        ids, mask = batch_ids_and_mask(batch)
        device = next(self.phi.parameters()).device
        if device != ids.device and not _is_quantized(self.phi):
            # phi was loaded beside theta before the trainer placed theta: follow the batches
            self.phi.to(ids.device)
            device = ids.device
        self.phi.eval()
        # phi computes in its own dtype (fp32, spec §2), not under theta's bf16 autocast
        with torch.autocast(device_type=device.type, enabled=False):
            weights = self.phi.token_weights(ids.to(device), mask.to(device))
        return weights.float().to(ids.device)

    def part(self, name: str) -> CklMethod:
        """The combined method called ``name`` (e.g. to give Mix-review its replay records)."""
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(
            f"taalm is not combined with {name!r}; parts: {[p.name for p in self.parts]}"
        )

    # -- declared capabilities (of the combined parts) ----------------------------------------
    def replay_ratio(self) -> float:
        return max(p.replay_ratio() for p in self.parts)

    def set_replay_records(self, records: Sequence[Any]) -> None:
        for p in self.parts:
            p.set_replay_records(records)

    def needs_object_mask(self) -> bool:
        return any(p.needs_object_mask() for p in self.parts)

    def base_lora(self) -> bool:
        return all(p.base_lora() for p in self.parts)

    def required_tokenizer(self) -> str | None:
        """phi's tokenizer: theta must share it (checks that phi_checkpoint is a checkpoint)."""
        ckpt = self.config.phi_checkpoint
        if not ckpt:
            raise ValueError(
                "phi_checkpoint is required: a Train-Attention folder written by "
                "apps/train_attention.py (e.g. <its output dir>/selected)"
            )
        try:
            meta = read_train_attention_meta(ckpt)
        except (FileNotFoundError, OSError, ValueError, KeyError):
            raise ValueError(
                f"phi_checkpoint {ckpt}: not a Train-Attention checkpoint folder (it needs "
                "train_attention.json and train_attention.safetensors, as written by "
                "apps/train_attention.py)"
            ) from None
        return str(meta.get("extra", {}).get("tokenizer") or meta["backbone"])

    # -- hooks (delegated) ----------------------------------------------------------------------
    def prepare(self, model: nn.Module) -> nn.Module:
        if self.phi is None and self.config.phi_checkpoint:
            device = next(model.parameters()).device
            self.attach_train_attention(
                load_train_attention(
                    self.config.phi_checkpoint,
                    quantization=self.config.phi_quantization,
                    device=device,
                )
            )
        if self.phi is None:
            raise RuntimeError("taalm needs phi_checkpoint or attach_train_attention(phi)")
        for part in self.parts:
            model = part.prepare(model)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        for part in self.parts:
            part.on_task_start(task, model)

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        self.task = task
        for part in self.parts:
            part.on_task_resume(task, model)

    def trainable_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        owners = [p for p in self.parts if _overrides(type(p), "trainable_parameters")]
        return (owners[0] if owners else self.parts[0]).trainable_parameters(model)

    def configure_optimizer(
        self, params: list[nn.Parameter], default: Callable[[list[nn.Parameter]], Any]
    ) -> Any:
        if self._optimizer_owner is None:
            return default(params)
        return self._optimizer_owner.configure_optimizer(params, default)

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        for part in self.parts:
            data = part.task_train_data(task, data)
        return data

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        for part in self.parts:
            examples = part.batch_examples(task, examples)
        return examples

    def forward_loss(self, batch: Any, model: nn.Module) -> tuple[torch.Tensor, Any]:
        return self._loss_owner.forward_loss(batch, model)

    def after_optimizer_step(self, model: nn.Module, step: StepInfo) -> None:
        for part in self.parts:
            part.after_optimizer_step(model, step)

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        for part in self.parts:
            part.on_task_end(task, model)

    def state_dict(self) -> dict[str, Any]:
        return {p.name: p.state_dict() for p in self.parts if p.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        parts = {p.name: p for p in self.parts}
        for name, sub in state.items():
            if name not in parts:
                raise ValueError(f"taalm state for {name!r}, which is not combined")
            parts[name].load_state_dict(sub)
