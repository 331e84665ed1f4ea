"""AP against forgetting, one point per method with std error bars over seeds (issue 17)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def plot_ap_forgetting(results: Sequence[Any], path: Path, title: str) -> Path:
    """Write the PNG; MTL (no forgetting: trained once) is a dashed line at its AP."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for res in results:
        ap, fg = res.stats.get("ap"), res.stats.get("forgetting")
        if ap is None or ap[0] is None:
            continue
        if res.row.joint:
            style = "--" if res.row.reference else ":"
            ax.axhline(ap[0], linestyle=style, color="grey", label=f"{res.label}")
            continue
        if fg is None or fg[0] is None:
            continue
        ax.errorbar(
            fg[0], ap[0], xerr=fg[1] or 0.0, yerr=ap[1] or 0.0, fmt="o", capsize=3,
            label=f"{res.label} (n={len(res.seeds)})",
        )  # fmt: skip
    ax.set_xlabel("forgetting (%, lower is better)")
    ax.set_ylabel("AP (%, higher is better)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
