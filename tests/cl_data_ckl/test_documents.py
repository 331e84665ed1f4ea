"""Lazily indexed document files, TemporalWiki diffset loading and the smoke stand-ins."""

from __future__ import annotations

import csv
import json

import pytest

from cl_data.ckl import (
    DocumentFiles,
    keep_diffset_text,
    load_twiki_diffset,
    load_twiki_probes,
    smoke_twiki_diffsets,
    smoke_twiki_replay,
)
from cl_data.errors import DataError

LONG = "The river Danube flows through ten countries and four capital cities of Europe today."


def _jsonl(path, rows):
    path.write_text("".join((json.dumps(r) if isinstance(r, dict) else r) + "\n" for r in rows))
    return path


def test_document_files_index_lazily_and_in_order(tmp_path):
    a = _jsonl(tmp_path / "a.jsonl", [{"evidence": "één"}, "", {"evidence": "two"}])
    b = _jsonl(tmp_path / "b.jsonl", [{"evidence": "three", "other": 1}])
    docs = DocumentFiles([a, b], field="evidence")
    assert len(docs) == 3
    assert [d["text"] for d in docs] == ["één", "two", "three"]
    assert docs[-1] == {"text": "three"} and docs[0:2] == [{"text": "één"}, {"text": "two"}]
    with pytest.raises(IndexError):
        docs[3]


def test_document_files_errors_name_file_and_row(tmp_path):
    bad = _jsonl(tmp_path / "bad.jsonl", [{"text": "fine"}, "", "{not json", {"text": 3}])
    docs = DocumentFiles([bad])
    assert docs[0] == {"text": "fine"}
    with pytest.raises(DataError, match=r"bad\.jsonl, row 2: invalid JSON"):
        docs[1]
    with pytest.raises(DataError, match=r"bad\.jsonl, row 3: field 'text'"):
        docs[2]
    with pytest.raises(DataError, match="not found"):
        DocumentFiles([tmp_path / "absent.jsonl"])
    with pytest.raises(DataError, match="no documents"):
        DocumentFiles([_jsonl(tmp_path / "empty.jsonl", [""])])


def test_twiki_diffset_from_jsonl_or_csv(tmp_path):
    _jsonl(tmp_path / "diffset_0910_filtered.jsonl", [{"text": LONG}])
    assert load_twiki_diffset(tmp_path, "0910") == [{"text": LONG}]
    with (tmp_path / "wikipedia_1011_gpt2.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["text"], [f" {LONG} "], ["short"]])
    assert load_twiki_diffset(tmp_path, "1011") == [{"text": LONG}]  # filtered on load
    with pytest.raises(DataError, match=r"diffset_1112_filtered\.jsonl.*wikipedia_1112_gpt2\.csv"):
        load_twiki_diffset(tmp_path, "1112")
    with pytest.raises(ValueError, match="unknown TWiki diffset"):
        load_twiki_diffset(tmp_path, "0809")


def test_smoke_twiki_stand_ins_come_from_the_probe_files(taalm_data):
    diffsets = smoke_twiki_diffsets(n_docs=4)
    assert list(diffsets) == ["0910", "1011", "1112"]
    first = load_twiki_probes("0901-1001", "changed")[0]
    assert diffsets["0910"][0]["text"].startswith(
        f"{first.subject} , {first.relation} , {first.object} ."
    )
    replay = smoke_twiki_replay(n_docs=4)
    start = load_twiki_probes("0901-1001", "unchanged")[-2 * 4 * 3]  # from the file's tail
    assert replay[0]["text"].startswith(f"{start.subject} , {start.relation} , {start.object} .")
    for docs in [*diffsets.values(), replay]:
        assert len(docs) == 4 and all(keep_diffset_text(d["text"]) for d in docs)
