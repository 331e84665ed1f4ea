"""cl-eval: exact match, accuracy matrices, continual-learning metrics and reports.

Importing this package never imports torch (nor matplotlib, which only plotting loads).
Each concept lives in its own module; the names below are the public API.
"""

__version__ = "0.1.0"

from cl_eval.aggregate import (
    Aggregate,
    RunInfo,
    Stat,
    aggregate_files,
    aggregate_markdown,
    aggregate_runs,
    aggregate_to_dict,
    diagonal_mean,
    mean_std,
    write_aggregate,
)
from cl_eval.environment import hardware_info, software_versions
from cl_eval.errors import EvalInputError, MissingDependencyError
from cl_eval.markdown import compare_markdown, matrix_markdown, metrics_markdown, results_markdown
from cl_eval.matrix import AccuracyMatrix, Cell
from cl_eval.metrics import (
    METRIC_LABELS,
    average_incremental_accuracy,
    average_performance,
    average_performance_micro,
    backward_transfer,
    compute_metrics,
    forgetting,
    forward_transfer,
    iil_metrics,
    num_trained,
    per_task_scores,
)
from cl_eval.plot import plot_matrix, plotting_available
from cl_eval.predictions import (
    PredictionRecord,
    matrix_from_predictions,
    read_predictions,
    write_predictions,
)
from cl_eval.report import write_markdown, write_report
from cl_eval.results import Results, make_results, read_results, write_results
from cl_eval.scores import (
    NORMALISE_MODES,
    T5_SPECIAL_TOKENS,
    count_exact_matches,
    exact_match,
    exact_match_score,
    normalise_answer,
)

__all__ = [
    "METRIC_LABELS",
    "NORMALISE_MODES",
    "T5_SPECIAL_TOKENS",
    "AccuracyMatrix",
    "Aggregate",
    "Cell",
    "EvalInputError",
    "MissingDependencyError",
    "PredictionRecord",
    "Results",
    "RunInfo",
    "Stat",
    "aggregate_files",
    "aggregate_markdown",
    "aggregate_runs",
    "aggregate_to_dict",
    "average_incremental_accuracy",
    "average_performance",
    "average_performance_micro",
    "backward_transfer",
    "compare_markdown",
    "compute_metrics",
    "count_exact_matches",
    "diagonal_mean",
    "exact_match",
    "exact_match_score",
    "forgetting",
    "forward_transfer",
    "hardware_info",
    "iil_metrics",
    "make_results",
    "matrix_from_predictions",
    "matrix_markdown",
    "mean_std",
    "metrics_markdown",
    "normalise_answer",
    "num_trained",
    "per_task_scores",
    "plot_matrix",
    "plotting_available",
    "read_predictions",
    "read_results",
    "results_markdown",
    "software_versions",
    "write_aggregate",
    "write_markdown",
    "write_predictions",
    "write_report",
    "write_results",
]
