"""Prompt-tuning initialisation texts by dataset family (spec classic-methods.md 3.3).

Methods that tune soft prompts (``peft``, ``seq`` with ``peft_type="prompt_tuning"``) start each
prompt from the embeddings of the family's text when their config gives no ``prompt_init_ids``
and the run names a family and a tokenizer (:class:`~cl_methods.method.RunInfo`).
"""

from __future__ import annotations

from ..method import RunInfo

PROMPT_TUNING_INIT: dict[str, str] = {
    "topic": "Classify the topic of this sentence:",
    "intent": "Classify the intent of this sentence:",
    "relation": "Classify the relationship in this sentence:",
    "concept_1k": "Answer the question below:",
}


def prompt_init_text(family: str) -> str:
    if family not in PROMPT_TUNING_INIT:
        raise ValueError(
            f"no prompt-tuning init text for data family {family!r}; "
            f"known: {sorted(PROMPT_TUNING_INIT)}"
        )
    return PROMPT_TUNING_INIT[family]


def run_prompt_init_ids(run: RunInfo) -> tuple[int, ...]:
    """The token ids of the run's init text (no special tokens), or ``()`` when the run names no
    family or has no tokenizer (prompts then start from random vocabulary rows)."""
    if run.data_family is None or run.tokenizer is None:
        return ()
    ids = run.tokenizer(prompt_init_text(run.data_family), add_special_tokens=False)["input_ids"]
    return tuple(int(i) for i in ids)
