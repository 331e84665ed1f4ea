import logging
import sys

import pytest

from cl_eval import MissingDependencyError, make_results, plot_matrix, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_heatmap_png_is_written(tmp_path, three_task_matrix, monkeypatch):
    pytest.importorskip("matplotlib")
    # plotting must not import pyplot (global state, GUI backends); other tests may have
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    three_task_matrix.record_train(0, 0, 90.0)
    path = plot_matrix(three_task_matrix, tmp_path / "plots" / "r.png", title="R")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 2000
    train = plot_matrix(three_task_matrix, tmp_path / "train.png", train=True)
    assert train.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots", "train.png"]
    assert "matplotlib.pyplot" not in sys.modules


def test_write_report_writes_all_three(tmp_path, three_task_matrix):
    pytest.importorskip("matplotlib")
    results = make_results(three_task_matrix, detect_hardware=False)
    written = write_report(results, tmp_path, stem="order1")
    assert {k: p.name for k, p in written.items()} == {
        "json": "order1.json",
        "markdown": "order1.md",
        "heatmap": "order1_heatmap.png",
    }
    assert written["heatmap"].read_bytes()[:8] == PNG_MAGIC
    assert "| 0: dbpedia |" in written["markdown"].read_text()


@pytest.fixture
def no_matplotlib(monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)


def test_clear_message_without_matplotlib(tmp_path, three_task_matrix, no_matplotlib, caplog):
    with pytest.raises(MissingDependencyError, match=r"cl-eval\[plot\]"):
        plot_matrix(three_task_matrix, tmp_path / "r.png")
    results = make_results(three_task_matrix, detect_hardware=False)
    with caplog.at_level(logging.WARNING, logger="cl_eval.report"):
        written = write_report(results, tmp_path)
    assert "heatmap" not in written and written["json"].exists()
    assert "cl-eval[plot]" in caplog.text
    with pytest.raises(MissingDependencyError):
        write_report(results, tmp_path, plot=True)
