"""The released O-LoRA / N-LoRA training step, rebuilt for the end-to-end benchmark.

What the authors' code does (read from cmnfriend/O-LoRA and PKU-YuanGroup/N-LoRA: their modified
``src/peft/tuners/lora.py`` and the ``training_step`` of ``src/uie_trainer_lora.py``), rebuilt here
in plain PyTorch without their code:

- every targeted projection (T5 ``q`` and ``v``) becomes a ``Linear`` that keeps its frozen weight
  and holds four ``nn.Linear`` adapters in ``ModuleDict``s keyed by the adapter name
  (``"default"``): ``lora_A``/``lora_B`` with rank ``r_sum`` (every earlier task's adapter,
  concatenated, frozen) and ``loranew_A``/``loranew_B`` with rank ``r`` (the current task, trained),
  one dropout module applied once to the input of both branches, and the scale ``alpha / r``; the
  forward adds the two branches to the base output in place;
- the model sits inside PEFT's wrappers (``PeftModel.base_model`` -> ``LoraModel.model``), so
  parameter names read ``base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.default
  .weight``;
- O-LoRA, every step: for each parameter whose name contains ``lora_A``, a second walk over
  ``named_parameters()`` until the ``loranew_A`` of the same module is found (O(P^2) in the number
  of parameters), adding ``|lora_A @ loranew_A^T|.sum()``; a third walk adds the un-squared
  Frobenius norm of every ``loranew_`` parameter; the two terms and the task loss are logged with
  ``.item()`` (three device syncs); ``loss + lamda_1 * orth + lamda_2 * l2`` is back-propagated;
- N-LoRA, every step: one walk collects ``loranew_A``/``loranew_B`` by module prefix, then
  ``torch.norm(loranew_A @ loranew_B, p=1)`` per module is summed (the ``r x r`` product of the
  stored weights), ``loss + lamda_1 * l1`` is back-propagated; nothing is logged per step.

The optimizer step (AdamW) is the same as the library's in the benchmark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
from torch import nn

LOG = logging.getLogger("bench_e2e.released")
ADAPTER = "default"


class ReleasedLoRALinear(nn.Linear):
    """A frozen projection with the released two-branch LoRA (see the module docstring)."""

    def __init__(self, base: nn.Linear, r: int, r_sum: int, alpha: float, dropout: float) -> None:
        super().__init__(
            base.in_features,
            base.out_features,
            bias=base.bias is not None,
            device=base.weight.device,
            dtype=base.weight.dtype,
        )
        with torch.no_grad():
            self.weight.copy_(base.weight)
            if base.bias is not None:
                self.bias.copy_(base.bias)
        self.weight.requires_grad_(False)
        kw = {"bias": False, "device": base.weight.device, "dtype": base.weight.dtype}
        d_in, d_out = base.in_features, base.out_features
        self.lora_dropout = nn.ModuleDict({ADAPTER: nn.Dropout(p=dropout)})
        self.lora_A = nn.ModuleDict({ADAPTER: nn.Linear(d_in, r_sum, **kw)})
        self.lora_B = nn.ModuleDict({ADAPTER: nn.Linear(r_sum, d_out, **kw)})
        self.loranew_A = nn.ModuleDict({ADAPTER: nn.Linear(d_in, r, **kw)})
        self.loranew_B = nn.ModuleDict({ADAPTER: nn.Linear(r, d_out, **kw)})
        self.scaling = {ADAPTER: alpha / r}
        self.active_adapter = ADAPTER

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name = self.active_adapter
        in_dtype = x.dtype
        out = nn.functional.linear(x, self.weight, self.bias)
        h = self.lora_dropout[name](x.to(self.lora_A[name].weight.dtype))
        out += self.lora_B[name](self.lora_A[name](h)) * self.scaling[name]
        out += self.loranew_B[name](self.loranew_A[name](h)) * self.scaling[name]
        return out.to(in_dtype)


class _LoraModel(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch):
        return self.model(**batch)


class PeftLikeModel(nn.Module):
    """``PeftModel`` -> ``LoraModel`` -> the transformer, for the released parameter names."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.base_model = _LoraModel(model)

    def forward(self, **batch):
        return self.base_model(**batch)


def attach_released_lora(
    model: nn.Module,
    targets: Iterable[str],
    r: int,
    r_sum: int,
    alpha: float = 32.0,
    dropout: float = 0.1,
) -> PeftLikeModel:
    """Replace every ``nn.Linear`` whose name ends in one of ``targets`` by a
    :class:`ReleasedLoRALinear`; freeze all but ``loranew_*``; wrap like PEFT does."""
    suffixes = tuple(f".{t}" for t in targets)
    chosen = [
        (n, m)
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear) and n.endswith(suffixes)
    ]
    for name, module in chosen:
        parent, _, child = name.rpartition(".")
        layer = ReleasedLoRALinear(module, r=r, r_sum=r_sum, alpha=alpha, dropout=dropout)
        setattr(model.get_submodule(parent), child, layer)
    wrapped = PeftLikeModel(model)
    for name, p in wrapped.named_parameters():
        p.requires_grad_("loranew_" in name)
    return wrapped


def released_lora_layers(wrapped: PeftLikeModel) -> dict[str, ReleasedLoRALinear]:
    """The released layers by their name inside the transformer (as the library names them)."""
    inner = wrapped.base_model.model
    return {n: m for n, m in inner.named_modules() if isinstance(m, ReleasedLoRALinear)}


def olora_penalties(wrapped: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The released orthogonality and L2 terms, with the released parameter walks."""
    orth: torch.Tensor | float = 0.0
    for old_name, old in wrapped.named_parameters():
        if "lora_A" not in old_name:
            continue
        module = old_name.split("lora_A")[0]
        for new_name, new in wrapped.named_parameters():  # scanned from the start every time
            if "loranew_A" in new_name and new_name.split("loranew_A")[0] == module:
                orth = orth + torch.abs(torch.mm(old, new.T)).sum()
                break
    l2: torch.Tensor | float = 0.0
    for name, p in wrapped.named_parameters():
        if "loranew_" in name:
            l2 = l2 + torch.norm(p, p=2)
    return orth, l2  # type: ignore[return-value]


def nlora_penalty(wrapped: nn.Module) -> torch.Tensor:
    """The released N-LoRA term: ``sum ||loranew_A @ loranew_B||_1`` per module."""
    a_by_module, b_by_module = {}, {}
    for name, p in wrapped.named_parameters():
        if "loranew_A" in name:
            a_by_module[name.split("loranew_A")[0]] = p
        elif "loranew_B" in name:
            b_by_module[name.split("loranew_B")[0]] = p
    l1: torch.Tensor | float = 0.0
    for module, a in a_by_module.items():
        if module in b_by_module:
            l1 = l1 + torch.norm(torch.mm(a, b_by_module[module]), p=1)
    return l1  # type: ignore[return-value]


def olora_loss(
    wrapped: nn.Module, batch: dict, lamda_1: float, lamda_2: float, log: bool = True
) -> torch.Tensor:
    """Task loss plus the released regularisation, logged every step as released."""
    loss = wrapped(**batch).loss
    orth, l2 = olora_penalties(wrapped)
    if log:  # the f-string is built (three .item() syncs) whatever the logger's level
        LOG.info(
            f"orthogonal_loss: {orth.item()}; l2_loss: {l2.item()}; accuracy_loss: "
            f"{loss.item()}; λ1: {lamda_1}; λ2: {lamda_2}"
        )
    return loss + orth * lamda_1 + l2 * lamda_2


def nlora_loss(wrapped: nn.Module, batch: dict, lamda_1: float) -> torch.Tensor:
    loss = wrapped(**batch).loss
    return loss + nlora_penalty(wrapped) * lamda_1
