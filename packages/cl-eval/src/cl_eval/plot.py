"""A heatmap PNG of ``R`` (needs matplotlib: ``pip install 'cl-eval[plot]'``).

matplotlib is imported only when a plot is drawn, and through its object API (no pyplot, no
global backend switch), so plotting is safe inside servers and training loops.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cl_eval.atomic import atomic_path
from cl_eval.errors import MissingDependencyError
from cl_eval.matrix import AccuracyMatrix

INSTALL_HINT = "pip install 'cl-eval[plot]'  (or: pip install matplotlib)"


def plotting_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        _import_matplotlib()
    except MissingDependencyError:
        return False
    return True


def _import_matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise MissingDependencyError(
            f"plotting the accuracy matrix needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from err
    return Figure, FigureCanvasAgg


def plot_matrix(
    matrix: AccuracyMatrix,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    cmap: str = "viridis",
    annotate: bool = True,
    digits: int = 1,
    train: bool = False,
    dpi: int = 120,
) -> Path:
    """Draw ``R`` (or ``R_train`` with ``train=True``) as a heatmap PNG at ``path`` (atomically).

    Rows are training steps, columns evaluated tasks; missing cells stay blank. The colour range
    is ``[0, scale]``. Returns the path written.
    """
    import numpy as np

    Figure, FigureCanvasAgg = _import_matplotlib()
    m = matrix.train if train else matrix
    if m is None:
        raise ValueError("this matrix has no R_train to plot")
    n = m.num_tasks
    grid = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            score = m.score(i, j)
            if score is not None:
                grid[i, j] = score
    side = max(4.0, 0.6 * n + 2.5)
    fig = Figure(figsize=(side + 1.0, side), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=m.scale)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=list(m.tasks), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=[f"{i}: {t}" for i, t in enumerate(m.tasks)])
    ax.set_xlabel("evaluated task")
    ax.set_ylabel("after training task")
    ax.set_title(title or ("R_train" if train else "Accuracy matrix R"))
    if annotate:
        for i in range(n):
            for j in range(n):
                if not np.isnan(grid[i, j]):
                    light = grid[i, j] < 0.6 * m.scale
                    ax.text(
                        j,
                        i,
                        f"{grid[i, j]:.{digits}f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if light else "black",
                    )
    fig.tight_layout()
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target
