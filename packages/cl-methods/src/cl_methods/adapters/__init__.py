"""Adapters attached to the targeted Linear modules of any model."""

from .inject import (
    LoRAConfig,
    adapter_parameters,
    append_new_adapters,
    attach_stacked_lora,
    canonical_name,
    freeze_all_but_new_adapters,
    merge_stacked_lora,
    old_and_new_a,
    reset_new_adapters,
    stacked_lora_layers,
    unwrap_model,
)
from .peft_format import load_peft_adapter, peft_task_type, read_peft_adapter, save_peft_adapter
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
    "load_peft_adapter",
    "merge_stacked_lora",
    "old_and_new_a",
    "paper_targets",
    "peft_task_type",
    "read_peft_adapter",
    "reset_new_adapters",
    "save_peft_adapter",
    "stacked_lora_layers",
    "unwrap_model",
]
