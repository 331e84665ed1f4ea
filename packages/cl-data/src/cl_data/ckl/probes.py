"""The two probe formats of LAMA-ckl and TemporalWiki (spec §7)."""

from __future__ import annotations

SCHEMATIC_TEMPLATE = (
    "Guess the object. \n  subject is {subject} , relation is {relation} , object is {object}"
)


def schematic_probe(subject: str, relation: str, object: str) -> str:
    """The schematic probe, exactly as the reference builds it (two spaces after the newline)."""
    return SCHEMATIC_TEMPLATE.format(subject=subject, relation=relation, object=object)


def descriptive_probe(template: str, subject: str, object: str) -> str:
    """The LAMA template with ``[X]`` replaced by the subject and ``[Y]`` by the object."""
    if "[X]" not in template or "[Y]" not in template:
        raise ValueError(f"LAMA template {template!r} must contain both [X] and [Y]")
    return template.replace("[X]", subject).replace("[Y]", object)
