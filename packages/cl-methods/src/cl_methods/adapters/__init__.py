"""Adapters attached to the targeted Linear modules of any model."""

from .inject import (
    LoRAConfig,
    adapter_parameters,
    append_new_adapters,
    attach_stacked_lora,
    canonical_name,
    freeze_all_but_new_adapters,
    load_task_adapter,
    merge_stacked_lora,
    old_and_new_a,
    reset_new_adapters,
    save_task_adapter,
    stacked_lora_layers,
    unwrap_model,
)
from .stacked_lora import StackedLoRALinear
from .targets import paper_targets

__all__ = [
    "LoRAConfig",
    "StackedLoRALinear",
    "adapter_parameters",
    "append_new_adapters",
    "attach_stacked_lora",
    "canonical_name",
    "freeze_all_but_new_adapters",
    "load_task_adapter",
    "merge_stacked_lora",
    "old_and_new_a",
    "paper_targets",
    "reset_new_adapters",
    "save_task_adapter",
    "stacked_lora_layers",
    "unwrap_model",
]
