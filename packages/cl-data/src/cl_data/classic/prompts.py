"""Prompts of the classic codebase (spec classic-methods.md section 3.3).

A generative training sequence is ``prompt + " " + y + eos``: :func:`answer_text` gives the
``" y"`` part and the encoder appends EOS (``CausalLMEncoder(add_bos=False)`` tokenises prompt and
answer separately, cuts over-length prompts from the left and masks everything but ``" y" eos``).
"""

from __future__ import annotations

import re

PROMPTS: dict[str, str] = {
    "default": "Input sentence: {x}\n The label:",
    "qa": "Question: {x}\n Short Answer:",
    "relation_classification_state": (
        "Input sentence: {x}\n The relationship between {e1} and {e2} is"
    ),
    "relation_classification_no_entity": "Input sentence: {x}\n The relationship:",
    "none": "{x}",
}

# The prompt each dataset uses in the generative recipes.
DATASET_PROMPT: dict[str, str] = {
    "topic3datasets": "default",
    "clinc150": "default",
    "banking77": "default",
    "concept_1k": "qa",
    "fewrel": "relation_classification_state",
    "tacred": "relation_classification_state",
}

# Maximum sequence length of each dataset's recipes (spec 3.2).
DATASET_MAX_LENGTH: dict[str, int] = {
    "topic3datasets": 256,
    "clinc150": 50,
    "banking77": 64,
    "fewrel": 100,
    "tacred": 128,
    "concept_1k": 32,
}

# Initialisation texts of prompt tuning, by dataset family.
PROMPT_TUNING_INIT: dict[str, str] = {
    "topic": "Classify the topic of this sentence:",
    "intent": "Classify the intent of this sentence:",
    "relation": "Classify the relationship in this sentence:",
    "concept_1k": "Answer the question below:",
}

ENTITY_MARKERS = re.compile(r"\s*\[E[12][12]\]\s*")


def remove_entity_markers(text: str) -> str:
    """Drop the ``[E11] [E12] [E21] [E22]`` markers of relation data, one space where they were."""
    return re.sub(r"\s+", " ", ENTITY_MARKERS.sub(" ", text)).strip()


def build_prompt(name: str, x: str, *, e1: str | None = None, e2: str | None = None) -> str:
    """The prompt ``name`` applied to input ``x`` (relation prompts also need ``e1`` and ``e2``)."""
    if name not in PROMPTS:
        raise ValueError(f"unknown prompt {name!r}; known: {', '.join(PROMPTS)}")
    if name.startswith("relation_classification"):
        x = remove_entity_markers(x)
    if name == "relation_classification_state":
        if e1 is None or e2 is None:
            raise ValueError("prompt 'relation_classification_state' needs e1 and e2")
        return PROMPTS[name].format(x=x, e1=e1, e2=e2)
    return PROMPTS[name].format(x=x)


def answer_text(y: str) -> str:
    """The supervised continuation of a prompt: ``" " + y`` (the encoder appends EOS)."""
    return " " + y


def normalise_answer(text: str) -> str:
    """Decoded text as it is scored: stripped and lowercased (cut at EOS before calling)."""
    return text.strip().lower()
