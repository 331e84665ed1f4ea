"""A figure of :func:`analyse_task_updates`'s summary (needs matplotlib, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HEATMAPS = (
    ("collision_rate", "collision rate"),
    ("frobenius_cosine", "|cos(dW_i, dW_j)|"),
    ("input_overlap", "input-subspace overlap"),
    ("output_overlap", "output-subspace overlap"),
)


def plot_task_updates(analysis: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Task-pair heatmaps (mean over layers) of the main pair measures and the per-task density
    of the updates, written to ``path`` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "plotting the task-update analysis needs matplotlib: pip install matplotlib"
        ) from err
    import numpy as np

    names = analysis["tasks"]
    n = len(names)
    fig, axes = plt.subplots(1, len(HEATMAPS) + 1, figsize=(4.2 * (len(HEATMAPS) + 1), 4.0))
    for ax, (key, label) in zip(axes, HEATMAPS):
        grid = np.array(
            [[np.nan if v is None else v for v in row] for row in analysis["pair_matrix"][key]],
            dtype=float,
        ).reshape(n, n)
        image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(label, fontsize=10)
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        for i in range(n):
            for j in range(n):
                if not np.isnan(grid[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{grid[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="w" if grid[i, j] < 0.6 else "k",
                    )
        fig.colorbar(image, ax=ax, fraction=0.046)
    density = [np.nan if v is None else v for v in analysis["per_task"]["density"]]
    axes[-1].bar(range(n), density, color="tab:blue")
    axes[-1].set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
    axes[-1].set_ylim(0, 1)
    axes[-1].set_title(f"density (|dW| > {analysis['rel_threshold']:g} max)", fontsize=10)
    fig.suptitle(title or "task updates: mean over adapted layers", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
