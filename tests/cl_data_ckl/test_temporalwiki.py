"""TemporalWiki: the diffset filter and the probe files."""

from __future__ import annotations

import csv

import pytest

from cl_data.ckl import (
    TWIKI_PERIODS,
    TwikiProbe,
    filter_diffset_csv,
    filter_diffset_rows,
    keep_diffset_text,
    load_twiki_probes,
    pair_documents_with_triples,
    read_documents,
    write_filtered_diffset,
)
from cl_data.errors import DataError

LONG = "The river Danube flows through ten countries and four capital cities of Europe today."


def test_filter_rules():
    assert keep_diffset_text(LONG)
    assert not keep_diffset_text(LONG[:49])  # shorter than 50 characters
    assert keep_diffset_text(LONG[:50])
    digits = "1234567890 " * 5 + "abcdefghijklmn"  # 14 letters of 69 characters < 0.3
    assert not keep_diffset_text(digits)
    ok = "1234567890 " * 4 + "abcdefghijklmnopqrstuvw"  # 23 / 67 >= 0.3
    assert keep_diffset_text(ok)


def test_rows_header_column_zero_and_strip():
    rows = [["text", "other"], [f"  {LONG}  ", "x" * 80], ["short", LONG], [], ["nan", "z"]]
    assert filter_diffset_rows(rows) == [{"text": LONG}]


def test_csv_file_round_trip(tmp_path):
    path = tmp_path / "wikipedia_0910_gpt2.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        w.writerow([LONG + "\nsecond line, with a comma"])
        w.writerow(["tiny"])
    assert filter_diffset_csv(path) == [{"text": LONG + "\nsecond line, with a comma"}]
    assert write_filtered_diffset(path, tmp_path / "diffset_0910_filtered.jsonl") == 1
    assert read_documents(tmp_path / "diffset_0910_filtered.jsonl") == [
        LONG + "\nsecond line, with a comma"
    ]
    with pytest.raises(DataError, match="not found"):
        filter_diffset_csv(tmp_path / "missing.csv")


def test_shared_probe_files(taalm_data, tokenizer):
    sizes = {}
    for period in TWIKI_PERIODS:
        for kind in ("changed", "unchanged"):
            probes = load_twiki_probes(period, kind, taalm_data / "TemporalWiki" / "eval")
            sizes[(period, kind)] = len(probes)
    assert sizes[("0901-1001", "changed")] == 1732
    assert sizes[("1101-1201", "unchanged")] == 7043
    p = TwikiProbe("Marcel Lemoine", "country of citizenship", "Belgium")
    assert p.probe == (
        "Guess the object. \n  subject is Marcel Lemoine , relation is country of citizenship , "
        "object is Belgium"
    )
    with pytest.raises(ValueError, match="unknown TemporalWiki period"):
        load_twiki_probes("0801-0901", "changed")


def test_pairing_proposal():
    docs = ["Marcel Lemoine was a Belgian cyclist from Belgium.", "Nothing relevant here at all."]
    triples = [
        TwikiProbe("Marcel Lemoine", "country of citizenship", "Belgium"),
        TwikiProbe("Marcel Lemoine", "sport", "football"),
    ]
    assert pair_documents_with_triples(docs, triples) == [
        {
            "text": docs[0],
            "subject": "Marcel Lemoine",
            "relation": "country of citizenship",
            "object": "Belgium",
        }
    ]
