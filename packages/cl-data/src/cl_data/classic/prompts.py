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
    "relation_classification_qa": (
        "Input sentence: {x}\n Question: What is the relationship between {e1} and {e2}?\n Answer:"
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
MARKERS = ("[E11]", "[E12]", "[E21]", "[E22]")
# Relation prompts that name the two entities.
ENTITY_PROMPTS = ("relation_classification_state", "relation_classification_qa")


def remove_entity_markers(text: str) -> str:
    """Drop the ``[E11] [E12] [E21] [E22]`` markers of relation data, one space where they were."""
    return re.sub(r"\s+", " ", ENTITY_MARKERS.sub(" ", text)).strip()


def has_entity_markers(text: str) -> bool:
    """True when ``text`` holds ``[E11] head [E12]`` and ``[E21] tail [E22]`` in that order."""
    pos = [text.find(m) for m in MARKERS]
    return -1 not in pos and pos[0] < pos[1] and pos[2] < pos[3]


def entities_from_markers(text: str) -> tuple[str, str]:
    """The head and tail entities of a marked sentence: the text between ``[E11]`` and
    ``[E12]``, and between ``[E21]`` and ``[E22]``, stripped."""
    if not has_entity_markers(text):
        raise ValueError(f"no [E11] head [E12] ... [E21] tail [E22] markers in {text[:80]!r}")
    pos = [text.find(m) for m in MARKERS]
    return (
        text[pos[0] + len(MARKERS[0]) : pos[1]].strip(),
        text[pos[2] + len(MARKERS[2]) : pos[3]].strip(),
    )


def build_prompt(name: str, x: str, *, e1: str | None = None, e2: str | None = None) -> str:
    """The prompt ``name`` applied to input ``x``. The relation prompts that name the entities
    take ``e1`` and ``e2``, or read them from the ``[E11]...[E22]`` markers of ``x``."""
    if name not in PROMPTS:
        raise ValueError(f"unknown prompt {name!r}; known: {', '.join(PROMPTS)}")
    if name in ENTITY_PROMPTS and (e1 is None or e2 is None):
        if not has_entity_markers(x):
            raise ValueError(
                f"prompt {name!r} needs e1 and e2, or [E11]/[E12]/[E21]/[E22] markers in the input"
            )
        e1, e2 = entities_from_markers(x)
    if name.startswith("relation_classification"):
        x = remove_entity_markers(x)
    if name in ENTITY_PROMPTS:
        return PROMPTS[name].format(x=x, e1=e1, e2=e2)
    return PROMPTS[name].format(x=x)


def answer_text(y: str) -> str:
    """The supervised continuation of a prompt: ``" " + y`` (the encoder appends EOS)."""
    return " " + y


def normalise_answer(text: str) -> str:
    """Decoded text as it is scored: stripped and lowercased (cut at EOS before calling)."""
    return text.strip().lower()
