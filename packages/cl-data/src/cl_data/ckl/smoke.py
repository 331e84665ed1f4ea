"""Offline stand-ins for smoke runs and tests: a Llama-like BPE tokenizer trained on the fly, a
small Train-Attention pool derived from the shared LAMA-ckl files, and TemporalWiki training
diffsets and a Mix-review replay set built from the shared TemporalWiki probe files.

The real TA pool is not distributed. The smoke pool takes, in file order, the records of
``invariant_schematic.jsonl`` whose uuid is not in ``invariant_descriptive.jsonl`` (so it is
disjoint from the TO-LEARN and NOT-TO-FORGET-descriptive evaluation sets) and pairs each evidence
with its schematic probe, which is the format of the real pool.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from .lama import lama_ckl_dir, read_lama_ckl_file
from .ta_pool import TAPoolRecord, ta_pool_from_lama
from .temporalwiki import (
    TWIKI_DIFFSETS,
    TWIKI_PERIODS,
    TwikiProbe,
    keep_diffset_text,
    load_twiki_probes,
)

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")


def build_smoke_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> Any:
    """A deterministic BPE tokenizer with Llama's conventions: "▁" marks a preceding space (so an
    object tokenised alone matches the object after a space), ``<s>`` is prepended, pad = EOS
    ``</s>``, right padding. Needs no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tok.train_from_iterator(list(texts), trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
        padding_side="right",
    )


def smoke_ta_pool(size: int = 40, root: str | os.PathLike[str] | None = None) -> list[TAPoolRecord]:
    """The first ``size`` schematic-NF records not in the descriptive-NF file, as a TA pool."""
    folder = lama_ckl_dir(root)
    descriptive = {r.uuid for r in read_lama_ckl_file(folder / "invariant_descriptive.jsonl")}
    schematic = read_lama_ckl_file(folder / "invariant_schematic.jsonl")
    chosen = [r for r in schematic if r.uuid not in descriptive][:size]
    if len(chosen) < size:
        raise ValueError(f"only {len(chosen)} records available for a smoke pool of {size}")
    return ta_pool_from_lama(chosen)


def _fact_documents(probes: list[TwikiProbe], facts_per_doc: int) -> list[dict[str, str]]:
    docs = []
    for k in range(0, len(probes) - facts_per_doc + 1, facts_per_doc):
        group = probes[k : k + facts_per_doc]
        text = " ".join(f"{p.subject} , {p.relation} , {p.object} ." for p in group)
        if keep_diffset_text(text):
            docs.append({"text": text})
    return docs


def smoke_twiki_diffsets(
    n_docs: int = 16, facts_per_doc: int = 3, root: str | os.PathLike[str] | None = None
) -> dict[str, list[dict[str, str]]]:
    """Stand-ins for the TWiki training diffsets (not distributed), built from the shared
    TemporalWiki probe files: diffset i holds ``n_docs`` documents, each the plain statements
    ``"subject , relation , object ."`` of ``facts_per_doc`` consecutive *changed* probes of
    period i (file order), kept only when they pass the diffset filter. They are not Wikipedia
    text: they only let the pipeline run offline."""
    out = {}
    for period, diffset in zip(TWIKI_PERIODS, TWIKI_DIFFSETS):
        probes = load_twiki_probes(period, "changed", root)
        docs = _fact_documents(probes[: 2 * n_docs * facts_per_doc], facts_per_doc)[:n_docs]
        if len(docs) < n_docs:
            raise ValueError(f"only {len(docs)} smoke documents for diffset {diffset}")
        out[diffset] = docs
    return out


def smoke_twiki_replay(
    n_docs: int = 16, facts_per_doc: int = 3, root: str | os.PathLike[str] | None = None
) -> list[dict[str, str]]:
    """Stand-in for the Aug-2021 Wikipedia snapshot of Mix-review (not distributed): documents
    built as in :func:`smoke_twiki_diffsets` from the *last* unchanged probes of the first period
    (facts that held before the periods; disjoint from the first probes the smoke run evaluates)."""
    probes = load_twiki_probes(TWIKI_PERIODS[0], "unchanged", root)
    tail = probes[-2 * n_docs * facts_per_doc :]
    docs = _fact_documents(tail, facts_per_doc)[:n_docs]
    if len(docs) < n_docs:
        raise ValueError(f"only {len(docs)} smoke replay documents")
    return docs
