"""The `cl-data` command line: summary and export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cl_data import Example, Task, TaskStream, export_stream, synthetic_stream
from cl_data.cli import main

ROOT = Path(__file__).resolve().parents[2]


def order1_benchmark(mini) -> Path:
    r = mini.rows
    mini.add("TC", "dbpedia", ["Company", "Artist"], r(("d0", "Company"), ("d1", "Artist")))
    mini.add("SC", "amazon", ["bad", "good"], r(("a0", "bad"), ("a1", "good"), ("a2", "good")))
    mini.add("TC", "yahoo", ["Health", "Sports"], r(("y0", "Health"), ("y1", "Sports")))
    mini.add("TC", "agnews", ["World", "Sports"], r(("n0", "World"), ("n1", "Sports")))
    return mini.root


def test_summary_reports_problems(mini, capsys, tmp_path) -> None:
    root = order1_benchmark(mini)
    r = mini.rows
    test = r(("m0", "neutral"), ("m1", "-"))
    mini.add("NLI", "MNLI", ["neutral", "entailment"], r(("m", "neutral")), dev=test, test=test)
    mini.add("NLI", "RTE", ["entailment"], r(("x", "entailment"), ("y", "maybe")))
    (root / "Poems" / "haiku").mkdir(parents=True)
    out_json = tmp_path / "summary.json"
    assert main(["summary", str(root), "--json", str(out_json)]) == 1
    text = capsys.readouterr().out
    assert f"CL_Benchmark at {root}: 6 tasks" in text
    assert "amazon train: bad 1, good 2" in text
    assert "NLI/MNLI/test.json: 1 x '-' not in labels.json (first at row 1)" in text
    rte = "error  NLI/RTE/train.json: labels outside labels.json: 1 x 'maybe' (first at row 1)"
    assert rte in text
    assert "error  Poems: unknown task type folder" in text
    assert "error  QQP/QQP: dataset folder missing" in text
    summary = json.loads(out_json.read_text())
    assert {d["name"] for d in summary["datasets"]} >= {"MNLI", "RTE", "amazon"}
    assert any(p["where"] == "NLI/RTE/train.json" for p in summary["problems"])


def test_summary_notes_dev_equal_test(mini, capsys) -> None:
    rows = mini.rows(("a", "World"), ("b", "Sports"))
    mini.add("TC", "agnews", ["World", "Sports"], rows, dev=rows, test=rows)
    main(["summary", str(mini.root)])
    assert "note   TC/agnews: dev.json is identical to test.json" in capsys.readouterr().out


def test_summary_of_bad_files_does_not_stop(mini, capsys) -> None:
    root = order1_benchmark(mini)
    (root / "TC" / "yahoo" / "dev.json").write_text("[{")
    (root / "TC" / "agnews" / "labels.json").unlink()
    assert main(["summary", str(root)]) == 1
    text = capsys.readouterr().out
    assert "TC/yahoo/dev.json: invalid JSON" in text
    assert "TC/agnews/labels.json: file not found" in text
    assert "amazon train: bad 1, good 2" in text


def test_summary_synthetic_and_missing_dir(capsys, tmp_path) -> None:
    assert main(["summary", "--synthetic"]) == 0
    text = capsys.readouterr().out
    assert "synth_reviews train: negative 54, neutral 53, positive 53" in text
    assert main(["summary", str(tmp_path / "nothing")]) == 2
    assert "benchmark directory not found" in capsys.readouterr().err


def test_summary_of_real_benchmark(benchmark_dir, capsys) -> None:
    assert main(["summary", str(benchmark_dir)]) == 0
    text = capsys.readouterr().out
    assert "15 tasks" in text and "Problems: 0 errors, 14 notes" in text
    assert text.count("dev.json is identical to test.json") == 12
    assert "NLI/MNLI/test.json: 131 x '-' not in labels.json" in text


def test_summary_of_real_long_sequence(long_sequence_dir, capsys) -> None:
    assert main(["summary", str(long_sequence_dir)]) == 0
    text = capsys.readouterr().out
    assert "long_sequence_instruct" in text and "15 tasks" in text
    # The shared data now holds rebuilt dbpedia/yahoo test files (PROVENANCE.md): no gap note.
    assert "absent" not in text
    rows = {line.split()[0]: line.split()[2:5] for line in text.splitlines()[3:18]}
    assert rows["dbpedia"] == ["1000", "500", "7000"]
    assert rows["yahoo"] == ["1000", "500", "500"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_synthetic(tmp_path, capsys) -> None:
    out = tmp_path / "deep" / "stream.jsonl"
    argv = ["export", "--order", "2", "--synthetic", "--out", str(out), "--max-train-samples", "5"]
    assert main([*argv, "--max-test-samples", "2", "--splits", "train,test"]) == 0
    assert "wrote 28 examples of 4 tasks" in capsys.readouterr().out
    lines = _lines(out)
    assert len(lines) == 28
    stream = synthetic_stream(2).subsample(max_train_samples=5, max_test_samples=2, seed=42)
    assert [line["task"] for line in lines[::7]] == list(stream.names)
    assert set(lines[0]) == {"position", "task", "task_type", "split", "id", "source", "target"}
    first = stream[0].prompted("train")[0]
    assert (lines[0]["source"], lines[0]["target"], lines[0]["id"]) == (
        first.source,
        first.target,
        first.id,
    )
    assert [line["split"] for line in lines[:7]] == ["train"] * 5 + ["test"] * 2
    assert lines[-1]["position"] == 3


def test_export_to_parquet_holds_the_jsonl_rows(tmp_path, capsys) -> None:
    """`--out x.parquet` writes the same rows as the JSON-lines export, through `datasets`."""
    import datasets

    argv = ["export", "--order", "2", "--synthetic", "--max-train-samples", "3", "--splits"]
    assert main([*argv, "train,dev", "--out", str(tmp_path / "s.jsonl")]) == 0
    assert main([*argv, "train,dev", "--out", str(tmp_path / "s.parquet")]) == 0
    assert "wrote" in capsys.readouterr().out
    table = datasets.Dataset.from_parquet(str(tmp_path / "s.parquet"))
    assert table.to_list() == _lines(tmp_path / "s.jsonl")
    assert not list(tmp_path.glob("*.partial"))


def test_export_benchmark_dir(mini, tmp_path) -> None:
    root = order1_benchmark(mini)
    out = tmp_path / "o1.jsonl"
    assert main(["export", "--order", "1", "--data-dir", str(root), "--out", str(out)]) == 0
    lines = _lines(out)
    assert [line["task"] for line in lines][:4] == ["dbpedia"] * 4  # 2 train, 1 dev, 1 test
    assert lines[0]["source"].startswith("Task:TC\nDataset:dbpedia\n")
    assert lines[0]["source"].endswith("\nd0\nAnswer:")


def test_export_errors(mini, tmp_path, capsys) -> None:
    root = order1_benchmark(mini)
    out = tmp_path / "x.jsonl"
    assert main(["export", "--order", "9", "--data-dir", str(root), "--out", str(out)]) == 2
    assert "unknown order 9" in capsys.readouterr().err
    assert main(["export", "--order", "4", "--synthetic", "--out", str(out)]) == 2
    assert main(["export", "--order", "1", "--synthetic", "--out", str(out), "--splits", "x"]) == 2
    assert main(["export", "--order", "4", "--data-dir", str(root), "--out", str(out)]) == 2
    assert "dataset folder of 'MNLI' not found" in capsys.readouterr().err
    assert not out.exists()


def test_interrupted_export_leaves_no_file(tmp_path) -> None:
    class Broken(Task):
        def prompted(self, split, template="default"):
            raise KeyboardInterrupt

    good = Task("a", "TC", ("x",), (Example("s", "x"),), (), ())
    broken = Broken("b", "TC", ("x",), (Example("s", "x"),), (), ())
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        export_stream(TaskStream((good, broken)), out)
    assert list(tmp_path.iterdir()) == []


def test_export_real_order(benchmark_dir, tmp_path) -> None:
    out = tmp_path / "real.jsonl"
    argv = ["export", "--order", "3", "--data-dir", str(benchmark_dir), "--out", str(out)]
    assert main([*argv, "--max-train-samples", "3", "--max-test-samples", "2"]) == 0
    lines = _lines(out)
    assert len(lines) == 4 * (3 + 2 + 2)
    assert lines[0]["task"] == "yahoo" and lines[-1]["task"] == "dbpedia"


def test_module_entry_point_and_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cl_data", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "summary" in done.stdout and "export" in done.stdout
    pyproject = (ROOT / "packages" / "cl-data" / "pyproject.toml").read_text()
    assert '[project.scripts]\ncl-data = "cl_data.cli:main"' in pyproject
