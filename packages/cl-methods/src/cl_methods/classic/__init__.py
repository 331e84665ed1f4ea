"""The classic CL codebase's scenarios (CIL, TIL, IIL), per-task heads, backbones with heads,
their evaluation and linear probing. Methods using them: ``seq`` and ``peft``
(:mod:`cl_methods.methods.seq`, :mod:`cl_methods.methods.peft_task`)."""

from .backbones import ClassifierModel, ClassifierOutput, last_attended
from .evaluation import ClassificationEvaluator, IILEvaluator, predict_logits
from .heads import CosineLinear, TaskHeads, make_head
from .probing import PROBES, class_means, fit_probes, probe_predict
from .scenarios import IL_MODES, LabelSpace, check_il_mode
from .task_lora import (
    attach_task_lora,
    save_task_lora,
    set_active_adapter,
    task_adapter_weights,
    task_lora_layers,
)
from .task_prompts import PromptTunedLM, init_task_prompts

__all__ = [
    "IL_MODES",
    "PROBES",
    "ClassificationEvaluator",
    "ClassifierModel",
    "ClassifierOutput",
    "CosineLinear",
    "IILEvaluator",
    "LabelSpace",
    "PromptTunedLM",
    "TaskHeads",
    "attach_task_lora",
    "check_il_mode",
    "class_means",
    "fit_probes",
    "init_task_prompts",
    "last_attended",
    "make_head",
    "predict_logits",
    "probe_predict",
    "save_task_lora",
    "set_active_adapter",
    "task_adapter_weights",
    "task_lora_layers",
]
