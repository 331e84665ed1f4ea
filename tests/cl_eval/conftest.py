"""Shared hand-built matrices for the cl-eval tests."""

from __future__ import annotations

import pytest

from cl_eval import AccuracyMatrix


def build_three_task_matrix() -> AccuracyMatrix:
    """Three tasks with future evaluation, a baseline row and counts on the last row.

    b = [10, 20, 30]
    R = [[90, 40, 35],
         [80, 50, 45],
         [70, 45, 60]]     last row from counts 7/10, 9/20, 30/50
    """
    m = AccuracyMatrix(["dbpedia", "amazon", "yahoo"])
    for j, b in enumerate([10.0, 20.0, 30.0]):
        m.record_baseline(j, b)
    for j, score in enumerate([90.0, 40.0, 35.0]):
        m.record(0, j, score)
    for j, score in enumerate([80.0, 50.0, 45.0]):
        m.record(1, j, score)
    for j, (c, t) in enumerate([(7, 10), (9, 20), (30, 50)]):
        m.record(2, j, correct=c, total=t)
    return m


@pytest.fixture
def three_task_matrix() -> AccuracyMatrix:
    return build_three_task_matrix()
