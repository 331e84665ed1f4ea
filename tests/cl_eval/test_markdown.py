from cl_eval import (
    AccuracyMatrix,
    Results,
    compare_markdown,
    make_results,
    matrix_markdown,
    metrics_markdown,
    results_markdown,
)


def test_matrix_markdown_with_baseline_and_missing_cells():
    m = AccuracyMatrix.from_rows([[90.0], [80.5, 50.25]], ["dbpedia", "a|b"], baseline=[10.0])
    assert matrix_markdown(m) == (
        "| after \\ on | dbpedia | a\\|b |\n"
        "|---|---:|---:|\n"
        "| initial | 10.00 | - |\n"
        "| 0: dbpedia | 90.00 | - |\n"
        "| 1: a\\|b | 80.50 | 50.25 |\n"
    )


def test_matrix_markdown_of_r_train():
    m = AccuracyMatrix.from_rows([[40.0]], train_rows=[[99.0]])
    assert "| 0: task0 | 99.0 |" in matrix_markdown(m, train=True, digits=1)


def test_metrics_markdown_order_and_missing_values():
    text = metrics_markdown({"custom": 1.0, "bwt": -12.5, "ap": 58.3333, "fwt": None})
    assert text == (
        "| metric | value |\n"
        "|---|---:|\n"
        "| AP (macro) | 58.33 |\n"
        "| BWT | -12.50 |\n"
        "| FWT | - |\n"
        "| custom | 1.00 |\n"
    )


def test_results_markdown_sections(three_task_matrix):
    three_task_matrix.record_train(0, 0, 100.0)
    results = make_results(three_task_matrix, name="demo", detect_hardware=False)
    text = results_markdown(results)
    assert text.startswith("# Results: demo\n")
    assert "3 of 3 tasks trained" in text
    assert "| 2: yahoo | 70.00 | 45.00 | 60.00 |" in text
    assert "## R_train" in text
    assert "## Metrics (forgetting: standard)" in text
    assert "| AP (micro) | 57.50 |" in text
    assert "| FWT | 17.50 |" in text
    assert "Software: python" in text


def test_compare_markdown_converts_scales_and_lists_tasks(three_task_matrix):
    run_a = Results(three_task_matrix, name="olora")
    kif = AccuracyMatrix.from_rows([[0.8], [0.7, 0.9]], ["dbpedia", "cb"], scale=1.0)
    run_b = Results(kif, name="kif")
    text = compare_markdown([run_a, run_b], per_task=True, digits=1)
    lines = text.splitlines()
    assert lines[0] == (
        "| run | AP (macro) | AP (micro) | Average incremental accuracy | Forgetting | BWT "
        "| FWT | dbpedia | amazon | yahoo | cb |"
    )
    assert (
        lines[2] == "| olora | 58.3 | 57.5 | 71.1 | 12.5 | -12.5 | 17.5 | 70.0 | 45.0 | 60.0 | - |"
    )
    assert lines[3] == "| kif | 80.0 | - | 80.0 | 10.0 | -10.0 | - | 70.0 | - | - | 90.0 |"
    named = compare_markdown([run_a], names=["mine"])
    assert named.splitlines()[2].startswith("| mine |")
