"""Prompt texts: the CL-benchmark prompt of O-LoRA and the long-sequence (Recurrent-KIF) formats.

CL benchmark (benchmark-and-metrics.md, "Prompt"):

    "Task:{TaskType}\\nDataset:{dataset}\\n" + INSTRUCTION + "Option: " + ", ".join(labels)
    + " \\n" + sentence + "\\nAnswer:"

with a space before the newline after the options. COPA has no instruction and no option line.
The instructions are those of the release's `instruction_config.json`, embedded here so that the
package works without the configs folder.

Long-sequence format (recurrent-kif.md section 7): T5 source = instruction + input; causal LMs use
the Alpaca template below.
"""

from __future__ import annotations

from collections.abc import Sequence

from cl_data.errors import DataError

# `instruction_config.json` of the O-LoRA release: one zero-shot instruction per task type.
INSTRUCTIONS: dict[str, str] = {
    "NLI": 'What is the logical relationship between the "sentence 1" and the "sentence 2"? '
    "Choose one from the option.\n",
    "QQP": 'Whether the "first sentence" and the "second sentence" have the same meaning? '
    "Choose one from the option.\n",
    "SC": "What is the sentiment of the following paragraph? Choose one from the option.\n",
    "TC": "What is the topic of the following paragraph? Choose one from the option.\n",
    "BoolQA": "According to the following passage, is the question true or false? "
    "Choose one from the option.\n",
    "MultiRC": "According to the following passage and question, is the candidate answer true or "
    "false? Choose one from the option.\n",
    "WiC": "Given a word and two sentences, whether the word is used with the same sense in both "
    "sentence? Choose one from the option.\n",
}

# Task types whose prompt has neither an instruction nor an option line.
NO_INSTRUCTION_TYPES: frozenset[str] = frozenset({"COPA"})

TASK_TYPES: tuple[str, ...] = ("SC", "TC", "NLI", "QQP", "BoolQA", "COPA", "MultiRC", "WiC")

PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes "
    "the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)


def check_task_type(task_type: str) -> str:
    """Return `task_type` if the prompt builder knows it, else raise a DataError."""
    if task_type not in TASK_TYPES:
        raise DataError(f"unknown task type {task_type!r}; expected one of {', '.join(TASK_TYPES)}")
    return task_type


def benchmark_prompt(task_type: str, dataset: str, labels: Sequence[str], sentence: str) -> str:
    """The source text of one CL-benchmark example, byte for byte as the reference builds it."""
    check_task_type(task_type)
    head = f"Task:{task_type}\nDataset:{dataset}\n"
    if task_type in NO_INSTRUCTION_TYPES:
        return head + sentence + "\nAnswer:"
    options = "Option: " + ", ".join(labels) + " \n"
    return head + INSTRUCTIONS[task_type] + options + sentence + "\nAnswer:"


def instruct_source(instruction: str, input: str) -> str:
    """T5 source of a long-sequence record: plain concatenation of instruction and input."""
    return instruction + input


def alpaca_prompt(instruction: str, input: str) -> str:
    """Alpaca prompt of a long-sequence record (`PROMPT_NO_INPUT` only when input is empty)."""
    if input:
        return PROMPT_INPUT.format(instruction=instruction, input=input)
    return PROMPT_NO_INPUT.format(instruction=instruction)
