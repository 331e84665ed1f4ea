import json
import os
import subprocess
import sys

import pytest

from cl_eval import make_results, read_results, write_predictions, write_results
from cl_eval.cli import main


@pytest.fixture
def results_json(tmp_path, three_task_matrix):
    results = make_results(three_task_matrix, name="run-a", detect_hardware=False)
    return write_results(results, tmp_path / "a.json")


def test_metrics_from_results_json(results_json, capsys):
    assert main(["metrics", str(results_json)]) == 0
    out = capsys.readouterr().out
    assert "# Results: run-a" in out
    assert "| BWT | -12.50 |" in out and "| FWT | 17.50 |" in out
    assert main(["metrics", str(results_json), "--json", "--forgetting", "classic"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["ap_micro"] == pytest.approx(57.5)


def test_metrics_check_and_write(results_json, capsys):
    data = json.loads(results_json.read_text())
    data["metrics"]["bwt"] = 3.0
    data["metrics"]["fwt"] = None
    results_json.write_text(json.dumps(data))
    assert main(["metrics", str(results_json), "--check"]) == 1
    err = capsys.readouterr().err
    assert "bwt: stored 3.0, recomputed -12.5" in err and "fwt: stored None" in err
    assert main(["metrics", str(results_json), "--write", "--check"]) == 1  # reports, then fixes
    capsys.readouterr()
    assert read_results(results_json).metrics["bwt"] == pytest.approx(-12.5)
    assert main(["metrics", str(results_json), "--check"]) == 0


def test_metrics_out_dir(results_json, tmp_path, capsys):
    assert (
        main(["metrics", str(results_json), "--out-dir", str(tmp_path / "rep"), "--no-plot"]) == 0
    )
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["results.json", "results.md"]
    assert "wrote json" in capsys.readouterr().err


def _prediction_files(folder):
    return [
        write_predictions(folder / "p0.jsonl", 0, "a", ["Yes", "no"], ["yes", "yes"]),
        write_predictions(folder / "p1a.jsonl", 1, "a", ["no", "no"], ["yes", "yes"]),
        write_predictions(folder / "p1b.jsonl", 1, "b", ["Positive </s>"], ["positive"]),
    ]


def test_predictions_command(tmp_path, capsys):
    files = [str(p) for p in _prediction_files(tmp_path)]
    out_dir = tmp_path / "report"
    code = main(
        ["predictions", *files, "--normalise", "lower", "--strip-token", "</s>",
         "--name", "kif", "--out-dir", str(out_dir), "--no-plot"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "| 0: a | 50.00 | - |" in out and "| 1: b | 0.00 | 100.00 |" in out
    results = read_results(out_dir / "results.json")
    assert results.matrix.cell(1, 1).total == 1
    assert results.metrics["bwt"] == pytest.approx(-50.0)
    assert results.metrics["ap_micro"] == pytest.approx(100 / 3)
    assert results.config == {"normalise": "lower", "strip_tokens": ["</s>"]}
    # the report lists the prediction files, so its metrics can be rebuilt from them
    assert main(["metrics", str(out_dir / "results.json"), "--from-predictions", "--check",
                 "--normalise", "lower", "--strip-token", "</s>"]) == 0  # fmt: skip
    assert main(["metrics", str(out_dir / "results.json"), "--from-predictions", "--check"]) == 1


def test_predictions_with_task_order(tmp_path, capsys):
    files = [str(p) for p in _prediction_files(tmp_path)]
    assert main(["predictions", *files, "--tasks", "a,b", "--scale", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ap"] == pytest.approx(0.0)


def test_compare(tmp_path, results_json, capsys):
    other = read_results(results_json)
    other.matrix.record(2, 0, 100.0)
    other.name = None
    path_b = write_results(other, tmp_path / "b.json")
    out_md = tmp_path / "cmp.md"
    assert (
        main(["compare", str(results_json), str(path_b), "--per-task", "--out", str(out_md)]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | AP (macro) |") and lines[0].endswith("| yahoo |")
    assert lines[2].startswith("| run-a | 58.33 |")
    assert lines[3].startswith("| b | 68.33 |")
    assert out_md.read_text().splitlines() == lines
    assert main(["compare", str(results_json), "--names", "x,y"]) == 2


def test_bad_input_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"after_task": 0}\n')
    assert main(["predictions", str(bad)]) == 2
    assert f"cl-eval: error: {bad}, line 1: missing key(s)" in capsys.readouterr().err
    assert main(["metrics", str(tmp_path / "none.json")]) == 2
    with pytest.raises(SystemExit):
        main(["metrics"])


def test_python_dash_m(results_json):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "cl_eval", "metrics", str(results_json), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout)["bwt"] == pytest.approx(-12.5)
