"""LAMA-ckl construction (spec §7 steps 1-7) on the hand-made T-REx fixture, with fake scorers."""

from __future__ import annotations

import random
import shutil

import pytest

from cl_data.ckl import (
    build_lama_ckl,
    candidate_records,
    read_lama_ckl_file,
    read_relations,
    score_records,
    select_lama_ckl,
)
from cl_data.errors import DataError

MODELS = ("llama_7b", "llama_1b", "llama_7b_kadapter", "llama_1b_kadapter")
# subject -> (descriptive scores, schematic scores) for the four models; default: all 0
KNOWN = {
    "Ada Lovelace": ((1, 1, 1, 1), (1, 1, 1, 1)),
    "Alan Turing": ((1, 1, 1, 1), (0, 0, 0, 0)),
    "Paris": ((1, 1, 1, 1), (1, 1, 1, 1)),
    "Danube": ((1, 0, 0, 0), (0, 0, 0, 0)),
    "Kurt Godel": ((1, 1, 1, 1), (1, 1, 1, 1)),  # known, but its evidence is too short
}


def make_scorers(calls: list | None = None):
    def scorer(model_index):
        def score(probe: str, obj: str) -> float:
            if calls is not None:
                calls.append((model_index, probe))
            for subject, (desc, schem) in KNOWN.items():
                if probe.startswith(subject) or f"subject is {subject} ," in probe:
                    return float((schem if probe.startswith("Guess") else desc)[model_index])
            return 0.0

        return score

    return {name: scorer(i) for i, name in enumerate(MODELS)}


def test_relations_and_candidates(lama_fixture):
    rels = read_relations(lama_fixture / "relations.jsonl")
    assert rels["P1376"].label == "capital of"
    recs = candidate_records(lama_fixture / "TREx", lama_fixture / "relations.jsonl")
    # relations in numeric order (P1376 after P530, unlike string order), facts in file order
    assert [r.relation_code for r in recs] == ["P19"] * 4 + ["P31"] * 2 + ["P530"] * 5 + [
        "P1376"
    ] * 2
    ada = recs[0]
    assert ada.masked_evidence.startswith("Ada Lovelace, the mathematician")  # longest sentence
    assert ada.evidence == ada.masked_evidence.replace("[MASK]", "London")
    assert ada.position == ada.masked_evidence.index("[MASK]") / len(ada.masked_evidence)
    assert ada.evidence_length == len(ada.evidence)
    assert ada.task_descriptive == "Ada Lovelace was born in London ."
    assert ada.task_schematic == (
        "Guess the object. \n  subject is Ada Lovelace , relation is place of birth , "
        "object is London"
    )
    assert ada.invariant and not recs[4].invariant
    paris = recs[11]
    assert "populous city" in paris.masked_evidence  # first of two equally long sentences


def test_unknown_relation_is_an_error(lama_fixture, tmp_path):
    shutil.copytree(lama_fixture, tmp_path / "lama")
    (tmp_path / "lama" / "TREx" / "P999.jsonl").write_text("")
    with pytest.raises(DataError, match="neither the invariant nor the variant"):
        candidate_records(tmp_path / "lama" / "TREx", tmp_path / "lama" / "relations.jsonl")


def test_selection_rules_caps_and_sampling(lama_fixture):
    recs = candidate_records(lama_fixture / "TREx", lama_fixture / "relations.jsonl")
    scored = score_records(recs, make_scorers(), progress=False)
    assert scored[0].scores["descriptive"] == dict.fromkeys(MODELS, 1.0)
    splits = select_lama_ckl(scored, sample_size=2, p530_to_learn_cap=2, p530_pool_cap=2)
    by = {r.subject: r for r in scored}
    # candidate lists before sampling, in candidate order
    nf_desc = [by["Ada Lovelace"], by["Alan Turing"], by["Paris"]]  # Godel: evidence <= 200
    nf_schem = [by["Ada Lovelace"], by["Paris"]]  # Nairobi: subject not in its evidence
    to_learn = [by["Python"], by["Chile"], by["Norway"]]  # P530 capped at the first 2
    assert splits.nf_descriptive == random.Random(42).sample(nf_desc, 2)
    assert splits.nf_schematic == random.Random(42).sample(nf_schem, 2)
    assert splits.to_learn == random.Random(42).sample(to_learn, 2)
    # TA pool: both means < 0.5 (Danube's 0.25 included), minus the sampled TO-LEARN facts,
    # then at most 2 P530 facts
    taken = {r.uuid for r in splits.to_learn}
    pool = [by[s] for s in ("Grace Hopper", "Python", "Danube")] + [
        by[s] for s in ("Chile", "Norway", "Kenya", "Peru", "Ghana")
    ]
    pool = [r for r in pool if r.uuid not in taken]
    kept, n530 = [], 0
    for r in pool:
        if r.relation_code == "P530":
            n530 += 1
            if n530 > 2:
                continue
        kept.append(r)
    assert splits.ta_pool == kept
    assert "Danube" not in {r.subject for r in splits.to_learn}  # mean 0.25 is not 0


def test_too_few_candidates_is_a_clear_error(lama_fixture):
    recs = candidate_records(lama_fixture / "TREx", lama_fixture / "relations.jsonl")
    scored = score_records(recs, make_scorers(), progress=False)
    with pytest.raises(ValueError, match="fewer than sample_size=500"):
        select_lama_ckl(scored)


def test_build_writes_files_and_resumes_scoring(lama_fixture, tmp_path):
    calls: list = []
    scorers = make_scorers(calls)

    class Interrupt(Exception):
        pass

    def failing(probe, obj):
        if len(calls) >= 40:
            raise Interrupt
        return scorers["llama_7b"](probe, obj)

    broken = {**scorers, "llama_7b": failing}
    with pytest.raises(Interrupt):
        build_lama_ckl(lama_fixture, broken, tmp_path, sample_size=2, progress=False)
    cached = read_lama_ckl_file(tmp_path / "scored_candidates.jsonl")
    assert 0 < len(cached) < 13
    calls.clear()
    splits = build_lama_ckl(
        lama_fixture, scorers, tmp_path, sample_size=2, progress=False, p530_to_learn_cap=2
    )
    assert len(calls) == (13 - len(cached)) * 2 * 4  # only the unscored facts are scored again
    for name, records in (
        ("variant.jsonl", splits.to_learn),
        ("invariant_descriptive.jsonl", splits.nf_descriptive),
        ("invariant_schematic.jsonl", splits.nf_schematic),
        ("train_attention_traindata.jsonl", splits.ta_pool),
    ):
        assert read_lama_ckl_file(tmp_path / name) == records
