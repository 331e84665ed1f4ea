"""The Train-Attention pool format, its reader/writer, the split and the smoke pool."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cl_data.ckl import (
    TAPoolRecord,
    read_lama_ckl_file,
    read_ta_pool,
    schematic_probe,
    smoke_ta_pool,
    split_ta_pool,
    write_ta_pool,
)
from cl_data.errors import DataError

PROBE = schematic_probe("Santiago", "capital of", "Chile")


def test_round_trip_and_the_three_layouts(tmp_path, tokenizer):
    rec = TAPoolRecord(
        "Santiago is the capital of Chile .", PROBE, "Chile", "Santiago", "capital of"
    )
    write_ta_pool([rec], tmp_path / "pool.jsonl")
    assert read_ta_pool(tmp_path / "pool.jsonl", tokenizer=tokenizer) == [rec]
    lama = {
        "evidence": rec.text,
        "task_schematic": PROBE,
        "object": "Chile",
        "subject": "Santiago",
        "relation_label": "capital of",
        "uuid": "u1",
    }
    twiki = {"text": rec.text, "subject": "Santiago", "relation": "capital of", "object": "Chile"}
    (tmp_path / "mixed.jsonl").write_text(json.dumps(lama) + "\n" + json.dumps(twiki) + "\n")
    a, b = read_ta_pool(tmp_path / "mixed.jsonl")
    assert (a.text, a.probe, a.object, a.uuid) == (rec.text, PROBE, "Chile", "u1")
    assert (b.text, b.probe, b.object) == (rec.text, PROBE, "Chile")


def test_bad_records(tmp_path, tokenizer):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "x", "object": "y"}) + "\n")
    with pytest.raises(DataError, match="row 0"):
        read_ta_pool(path)
    path.write_text(
        json.dumps({"text": "x", "probe": "Santiago is a city", "object": "Chile"}) + "\n"
    )
    with pytest.raises(DataError, match="does not occur in the probe"):
        read_ta_pool(path)
    path.write_text(json.dumps({"text": "x", "probe": PROBE, "object": "Chil"}) + "\n")
    with pytest.raises(DataError, match="not found at token level"):
        read_ta_pool(path, tokenizer=tokenizer)


def test_split_is_the_references_seeded_split():
    recs = [TAPoolRecord(f"doc {i}", f"probe {i}", str(i)) for i in range(40)]
    train, val = split_ta_pool(recs, 16, 42)
    perm = np.random.default_rng(42).permutation(40).tolist()
    assert val == [recs[i] for i in perm[:16]] and train == [recs[i] for i in perm[16:]]
    assert split_ta_pool(recs, 16, 42) == (train, val)
    with pytest.raises(ValueError):
        split_ta_pool(recs, 40)


def test_smoke_pool_is_disjoint_from_the_main_evaluation_sets(taalm_data):
    pool = smoke_ta_pool(40, taalm_data / "LAMA_ckl")
    assert len(pool) == 40
    lama = taalm_data / "LAMA_ckl"
    desc = {r.uuid for r in read_lama_ckl_file(lama / "invariant_descriptive.jsonl")}
    var = {r.uuid for r in read_lama_ckl_file(lama / "variant.jsonl")}
    assert not ({r.uuid for r in pool} & (desc | var))
    assert all(r.probe.startswith("Guess the object.") and r.object in r.probe for r in pool)
