"""Spec checklist item 9 (data) and LAMA-ckl validation at load time."""

from __future__ import annotations

import json

import pytest

from cl_data.ckl import (
    LAMA_CKL_FILES,
    load_lama_ckl,
    locate_object,
    read_lama_ckl_file,
    schematic_probe,
)
from cl_data.errors import DataError


def test_shared_files_load_with_500_records_each(taalm_data):
    data = load_lama_ckl(taalm_data / "LAMA_ckl")
    assert len(data.to_learn) == len(data.nf_descriptive) == len(data.nf_schematic) == 500
    assert data.not_to_forget is data.nf_descriptive
    assert not any(r.invariant for r in data.to_learn)
    assert all(r.invariant for r in data.nf_descriptive + data.nf_schematic)
    shared = {r.uuid for r in data.nf_descriptive} & {r.uuid for r in data.nf_schematic}
    assert len(shared) == 64  # spec §7


def test_schematic_string_is_exact(taalm_data):
    data = load_lama_ckl(taalm_data / "LAMA_ckl")
    rec = data.nf_schematic[0]
    assert rec.task_schematic == (
        f"Guess the object. \n  subject is {rec.subject} , relation is {rec.relation_label} , "
        f"object is {rec.object}"
    )
    assert schematic_probe("Santiago", "capital of", "Chile") == (
        "Guess the object. \n  subject is Santiago , relation is capital of , object is Chile"
    )
    for r in data.to_learn + data.nf_descriptive + data.nf_schematic:
        assert r.task_schematic == schematic_probe(r.subject, r.relation_label, r.object)


def test_every_object_is_a_substring_of_its_probes(taalm_data):
    data = load_lama_ckl(taalm_data / "LAMA_ckl")
    for role, (_, field, _) in LAMA_CKL_FILES.items():
        for r in getattr(data, role):
            assert r.object in getattr(r, field)
            assert r.object in r.task_descriptive and r.object in r.task_schematic


def test_every_object_is_found_at_token_level_with_llama_tokenizer(taalm_data):
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained("meta-llama/Llama-2-7b-hf")
    except Exception as err:  # offline CI: no hub access
        pytest.skip(f"Llama-2 tokenizer not available offline ({type(err).__name__})")
    data = load_lama_ckl(taalm_data / "LAMA_ckl", tokenizer=tok)
    assert len(data.to_learn) == 500


def test_every_object_is_found_at_token_level_with_a_llama_like_tokenizer(taalm_data):
    from cl_data.ckl import build_smoke_tokenizer

    raw = load_lama_ckl(taalm_data / "LAMA_ckl")
    records = raw.to_learn + raw.nf_descriptive + raw.nf_schematic
    texts = [t for r in records for t in (r.evidence, r.task_descriptive, r.task_schematic)]
    tok = build_smoke_tokenizer(texts, vocab_size=2000)
    load_lama_ckl(taalm_data / "LAMA_ckl", tokenizer=tok)
    r = raw.to_learn[0]
    span = locate_object(tok, tok(r.task_descriptive)["input_ids"], r.object)
    assert span.start >= 1


def _good_record() -> dict:
    masked = "Santiago, the largest city of the country, became the capital of [MASK] in 1541."
    return {
        "relation_code": "P1376",
        "uuid": "u-1",
        "task_descriptive": "Santiago is the capital of Chile .",
        "task_schematic": schematic_probe("Santiago", "capital of", "Chile"),
        "subject": "Santiago",
        "relation_label": "capital of",
        "object": "Chile",
        "masked_evidence": masked,
        "evidence": masked.replace("[MASK]", "Chile"),
        "position": masked.index("[MASK]") / len(masked),
        "evidence_length": len(masked.replace("[MASK]", "Chile")),
        "invariant": True,
        "scores": {"descriptive": {"llama_7b": 1.0}, "schematic": {"llama_7b": 1.0}},
    }


def _write(tmp_path, records):
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_valid_record_round_trips(tmp_path, tokenizer):
    path = _write(tmp_path, [_good_record()])
    (rec,) = read_lama_ckl_file(path, invariant=True, tokenizer=tokenizer, expected_rows=1)
    assert rec.to_dict() == _good_record()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task_schematic": "Guess the object.\n subject is Santiago"}, "exact format"),
        ({"subject": 3}, "'subject' must be a string"),
        ({"evidence": "Santiago is the capital of Peru, a country."}, "filled by the object"),
        ({"evidence_length": 7}, "evidence_length"),
        ({"position": 0.5}, "position"),
        ({"invariant": "false"}, "'invariant' must be true/false"),
        ({"task_descriptive": "Santiago is a city ."}, "does not occur in the descriptive"),
        ({"scores": {"descriptive": {"llama_7b": 2.0}}}, "not in"),
    ],
)
def test_bad_records_name_file_and_row(tmp_path, change, message):
    bad = {**_good_record(), **change}
    path = _write(tmp_path, [_good_record() | {"uuid": "u-0"}, bad])
    with pytest.raises(DataError, match=message) as info:
        read_lama_ckl_file(path)
    assert str(path) in str(info.value) and "row 1" in str(info.value)


def test_duplicate_uuid_wrong_flag_and_count(tmp_path):
    path = _write(tmp_path, [_good_record(), _good_record()])
    with pytest.raises(DataError, match="duplicate uuid"):
        read_lama_ckl_file(path)
    path = _write(tmp_path, [_good_record()])
    with pytest.raises(DataError, match="invariant=True"):
        read_lama_ckl_file(path, invariant=False)
    with pytest.raises(DataError, match="expected 500 records"):
        read_lama_ckl_file(path, expected_rows=500)


def test_token_level_check_at_load_time(tmp_path, tokenizer):
    rec = _good_record()
    rec["object"] = "Chil"  # a substring, but not a token sequence of the probe
    rec["task_descriptive"] = "Santiago is the capital of Chile ."
    rec["task_schematic"] = schematic_probe("Santiago", "capital of", "Chil")
    rec["evidence"] = rec["masked_evidence"].replace("[MASK]", "Chil")
    rec["evidence_length"] = len(rec["evidence"])
    path = _write(tmp_path, [rec])
    read_lama_ckl_file(path)  # structurally fine
    with pytest.raises(DataError, match="not found at token level"):
        read_lama_ckl_file(path, tokenizer=tokenizer)
