"""One LoRA adapter per task on each targeted ``nn.Linear``, exactly one active at a time, built
with PEFT: every task ``t`` is a PEFT adapter named ``task<t>`` injected into the same layers.

``y = W x + b + (alpha/r) * B_a A_a drop(x)`` with ``a`` the active task (``-1``: none, the base
model). The spec's per-task PEFT uses r=4, alpha=8, dropout 0.1; PEFT initialises A Kaiming-
uniform and B to zero. :func:`set_active_adapter` switches tasks without touching which
parameters train (PEFT's own ``set_adapter`` would also make the active adapter trainable, which
would unfreeze it whenever an evaluation switches adapters in the middle of a task).
:func:`save_task_lora` writes task ``t``'s adapter as a PEFT folder that
``peft.PeftModel.from_pretrained(base, folder)`` opens (module names relative to the model given).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

from ..adapters.peft_format import PREFIX, WEIGHTS_FILE, peft_task_type
from ..state_io import save_safetensors


def adapter_name(task: int) -> str:
    return f"task{int(task)}"


def _targets(model: nn.Module, targets: tuple[str, ...]) -> list[str]:
    """Full names of the ``nn.Linear`` modules whose last name part is in ``targets`` (never a
    classifier head)."""
    found = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
        and name.split(".")[-1] in targets
        and not (name == "heads" or name.startswith("heads."))
    ]
    if not found:
        leaves = sorted(
            {n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        )
        raise ValueError(f"no Linear module ends in {list(targets)}; Linear leaves: {leaves[:12]}")
    return found


def attach_task_lora(
    model: nn.Module,
    targets: tuple[str, ...],
    num_tasks: int,
    r: int = 4,
    alpha: float = 8.0,
    dropout: float = 0.1,
) -> dict[str, LoraLayer]:
    """Inject ``num_tasks`` PEFT LoRA adapters (``task0`` ...) into every ``nn.Linear`` whose
    name ends in one of ``targets``; none is active afterwards. Error if nothing matches."""
    names = _targets(model, targets)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=names)
    with warnings.catch_warnings():  # several adapters in one model is the point here
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        for t in range(num_tasks):
            inject_adapter_in_model(config, model, adapter_name=adapter_name(t))
    set_active_adapter(model, -1)
    return task_lora_layers(model)


def task_lora_layers(model: nn.Module) -> dict[str, LoraLayer]:
    return {n: m for n, m in model.named_modules() if isinstance(m, LoraLayer)}


def set_active_adapter(model: nn.Module, task: int) -> None:
    """Make task ``task``'s adapter the active one (``-1``: none); which parameters train is left
    exactly as it was."""
    layers = task_lora_layers(model)
    flags = [(p, p.requires_grad) for layer in layers.values() for p in layer.parameters()]
    for layer in layers.values():
        if task < 0:
            layer.enable_adapters(False)
        else:
            layer.set_adapter(adapter_name(task))
            layer.enable_adapters(True)
    for p, flag in flags:
        p.requires_grad_(flag)


def task_adapter_weights(
    model: nn.Module, task: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{module name: (A [r, d_in], B [d_out, r])}`` of task ``task``'s adapter."""
    name = adapter_name(task)
    return {
        n: (layer.lora_A[name].weight, layer.lora_B[name].weight)
        for n, layer in task_lora_layers(model).items()
    }


def adapter_params(model: nn.Module, task: int) -> list[nn.Parameter]:
    return [p for a, b in task_adapter_weights(model, task).values() for p in (a, b)]


def save_task_lora(model: nn.Module, task: int, folder: str | Path) -> Path:
    """Task ``task``'s adapter as a PEFT LoRA folder (``adapter_config.json`` +
    ``adapter_model.safetensors``), module names relative to ``model``."""
    layers = task_lora_layers(model)
    if not layers:
        raise ValueError("the model has no per-task LoRA adapters")
    name = adapter_name(task)
    first = next(iter(layers.values()))
    config = LoraConfig(
        r=first.r[name],
        lora_alpha=first.lora_alpha[name],
        lora_dropout=drop.p if isinstance(drop := first.lora_dropout[name], nn.Dropout) else 0.0,
        target_modules=sorted(layers),
        task_type=peft_task_type(model),
        inference_mode=True,
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(folder))
    tensors = {}
    for module, (a, b) in task_adapter_weights(model, task).items():
        tensors[f"{PREFIX}{module}.lora_A.weight"] = a.detach().float().cpu().contiguous().clone()
        tensors[f"{PREFIX}{module}.lora_B.weight"] = b.detach().float().cpu().contiguous().clone()
    save_safetensors(tensors, folder / WEIGHTS_FILE, metadata={"format": "pt"})
    return folder
