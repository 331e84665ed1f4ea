"""cl-eval warns (and with --strict refuses) instead of silently averaging over fewer tasks or
comparing runs that are not comparable; unreadable inputs are one-line errors, exit 2."""

from __future__ import annotations

import pytest

from cl_eval import AccuracyMatrix, make_results, write_results
from cl_eval.cli import main


def _write(tmp_path, name, tasks, rows, variant="standard"):
    matrix = AccuracyMatrix(tasks)
    for i, row in enumerate(rows):
        for j, score in enumerate(row):
            if score is not None:
                matrix.record(i, j, score)
    results = make_results(matrix, name=name, forgetting_variant=variant, detect_hardware=False)
    return str(write_results(results, tmp_path / f"{name}.json"))


def test_a_final_row_without_its_diagonal_warns_and_strict_refuses(tmp_path, capsys):
    path = _write(tmp_path, "gap", ["a", "b"], [[90.0, None], [80.0, None]])
    assert main(["metrics", path]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "lacks 'b': AP and BWT average over 1 of 2 tasks" in err
    assert main(["metrics", path, "--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith("(--strict)")


def test_compare_warns_about_other_task_lists_and_variants(tmp_path, capsys):
    a = _write(tmp_path, "a", ["x", "y"], [[90.0, None], [80.0, 70.0]])
    b = _write(tmp_path, "b", ["x", "z"], [[90.0, None], [80.0, 70.0]], variant="classic")
    assert main(["compare", a, b]) == 0
    err = capsys.readouterr().err
    assert "different task lists" in err and "different forgetting variants" in err
    assert main(["compare", a, b, "--strict"]) == 2
    assert main(["compare", a, a, "--strict"]) == 0  # comparable runs: no warning


@pytest.mark.parametrize("kind", ["folder", "binary", "list"])
def test_unreadable_inputs_are_one_line_errors(tmp_path, capsys, kind):
    path = tmp_path / "bad.json"
    if kind == "folder":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    else:
        path.write_text("[1, 2]")
    for argv in (["metrics", str(path)], ["compare", str(path)], ["predictions", str(path)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert (
            len(err.splitlines()) == 1 and err.startswith("cl-eval: error: ") and str(path) in err
        )
