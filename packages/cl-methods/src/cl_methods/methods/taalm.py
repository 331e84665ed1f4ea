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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..method import Method, MethodConfig, StepInfo, TaskContext
from ..registry import build_method, register_method
from ..taalm.checkpoint import freeze, load_train_attention
from ..taalm.ckl_method import Batch, CklMethod, batch_ids_and_mask
from ..taalm.model import TrainAttention

COMBINABLE = ("kadapter", "recadam", "mixreview", "rho1")


@dataclass
class TaalmConfig(MethodConfig):
    """phi_checkpoint: folder written by ``save_train_attention`` (apps/train_attention.py);
    combine_with: CKL methods to combine; options: their config overrides, by method name."""

    phi_checkpoint: str | None = None
    combine_with: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    known_masking: bool = False
    phi_quantization: Literal["auto", "nf4", "none"] = "auto"


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
        unknown = [n for n in cfg.combine_with if n not in COMBINABLE]
        if unknown:
            raise ValueError(f"taalm cannot combine with {unknown}; choose from {COMBINABLE}")
        extra = sorted(set(cfg.options) - set(cfg.combine_with))
        if extra:
            raise ValueError(f"taalm options given for methods not combined: {extra}")
        names = [n for n in COMBINABLE if n in cfg.combine_with] or ["ckl_finetune"]
        self.parts: list[CklMethod] = []
        for n in names:
            opts = {"known_masking": cfg.known_masking, **cfg.options.get(n, {})}
            part = build_method(n, opts)
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
