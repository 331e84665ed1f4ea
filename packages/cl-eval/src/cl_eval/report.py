"""Write a run's full report: results JSON, Markdown tables and the heatmap PNG."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cl_eval.atomic import atomic_write_text
from cl_eval.markdown import results_markdown
from cl_eval.plot import INSTALL_HINT, plot_matrix, plotting_available
from cl_eval.results import Results, write_results

logger = logging.getLogger(__name__)


def write_markdown(results: Results, path: str | os.PathLike[str], *, digits: int = 2) -> Path:
    """Write :func:`cl_eval.markdown.results_markdown` to ``path`` atomically."""
    return atomic_write_text(path, results_markdown(results, digits=digits))


def write_report(
    results: Results,
    out_dir: str | os.PathLike[str],
    *,
    stem: str = "results",
    plot: bool | None = None,
) -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>_heatmap.png`` into ``out_dir``.

    ``plot=None`` draws the heatmap when matplotlib is installed and logs how to get it when
    not; ``plot=True`` requires it (raises :class:`MissingDependencyError`); ``plot=False``
    skips it. Returns the written paths by kind: ``json``, ``markdown`` and maybe ``heatmap``.
    """
    folder = Path(out_dir)
    written = {
        "json": write_results(results, folder / f"{stem}.json"),
        "markdown": write_markdown(results, folder / f"{stem}.md"),
    }
    if plot is None:
        plot = plotting_available()
        if not plot:
            logger.warning("heatmap skipped: matplotlib is not installed (%s)", INSTALL_HINT)
    if plot:
        written["heatmap"] = plot_matrix(
            results.matrix, folder / f"{stem}_heatmap.png", title=f"R: {results.label}"
        )
    return written
