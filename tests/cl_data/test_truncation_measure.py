"""results/truncation/measure_truncation.py runs end to end on a hand-written benchmark folder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "results" / "truncation" / "measure_truncation.py"


def test_measure_script_counts_rows_and_saves_its_vocabulary(agnews_mini, tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("measure_truncation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "out"
    argv = ["--data-dir", str(agnews_mini.root), "--tasks", "agnews", "--vocab-size", "60"]
    argv += ["--max-source-length", "24", "--max-target-length", "4", "--out-dir", str(out)]
    assert module.main(argv) == 0
    report = json.loads((out / "truncation_changes_unigram.json").read_text())
    train = report["seq2seq"]["agnews"]["train"]
    assert train["rows"] == 4 and 0 < train["over"] <= 4 and train["changed"] <= train["over"]
    causal = report["causal"]["agnews"]
    assert causal["train"]["changed"] == 4  # two BOS tokens in every released row
    assert causal["test"]["rows"] == 2
    assert (out / "truncation_changes_unigram.md").read_text().startswith("# Rows whose")
    saved = out / "truncation_unigram_tokenizer.json.gz"
    again = tmp_path / "again"
    argv[argv.index("--out-dir") + 1] = str(again)
    assert module.main([*argv, "--tokenizer", str(saved)]) == 0
    rerun = json.loads((again / "truncation_changes_unigram.json").read_text())
    assert rerun["tokenizer"]["sha256"] == report["tokenizer"]["sha256"]
    assert rerun["seq2seq"] == report["seq2seq"] and rerun["causal"] == report["causal"]
