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
    """Task-pair heatmaps (mean over layers) of the main pair measures, the per-task density of
    the updates and, per task, the distribution over layers of its nuclear norm (box plot; the
    N-LoRA release's figure), written to ``path`` (PNG)."""
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
    nuclear = analysis.get("nuclear_norm_per_layer") or {}
    panels = len(HEATMAPS) + 1 + (1 if nuclear else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.0))
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
    bars = axes[len(HEATMAPS)]
    density = [np.nan if v is None else v for v in analysis["per_task"]["density"]]
    bars.bar(range(n), density, color="tab:blue")
    bars.set_xticks(range(n), names, rotation=45, ha="right", fontsize=7)
    bars.set_ylim(0, 1)
    bars.set_title(f"density (|dW| > {analysis['rel_threshold']:g} max)", fontsize=10)
    if nuclear:
        _nuclear_boxes(axes[-1], nuclear, names)
    fig.suptitle(title or "task updates: mean over adapted layers", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _nuclear_boxes(ax: Any, per_layer: dict[str, list[float]], names: list[str]) -> None:
    """One box per task: its nuclear norms over the adapted layers."""
    values = [[row[k] for row in per_layer.values() if k < len(row)] for k in range(len(names))]
    ax.boxplot(values, positions=range(len(names)), widths=0.6, showfliers=True)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_title(f"||dW||_* over {len(per_layer)} layers", fontsize=10)
