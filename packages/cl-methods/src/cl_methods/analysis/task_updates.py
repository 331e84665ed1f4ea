"""How the task updates of a stacked-adapter run relate to each other (O-LoRA vs N-LoRA).

Task ``k``'s update of an adapted layer is ``dW_k = s * B_k A_k`` (``d_out x d_in``,
``s = alpha / r``), read from the frozen stack of
:class:`~cl_methods.adapters.StackedLoRALinear`. For every adapted layer and every pair of tasks
``(i, j)`` this module computes:

Measures after the N-LoRA paper (Yang et al., "Is Parameter Collision Hindering Continual Learning
in LLMs?", COLING 2025). The paper calls two tasks' updates *colliding* where both change the same
parameter (entry ``(p, q)`` of W), shows that non-colliding updates are orthogonal
(``<dW_i, dW_j>_F = 0``, since no entry is non-zero in both), and reports the collision rate, the
sparsity of the updates, task orthogonality and the nuclear norms of the updates. We could not
retrieve the paper's exact formulas (thresholds, normalisation), so the definitions below are ours
and are stated precisely:

- ``collision_rate``: the fraction of the ``d_out * d_in`` entries that are *active* in both
  ``dW_i`` and ``dW_j``. Floating-point updates are never exactly zero, so an entry is active when
  ``|dW_k[p, q]| > rel_threshold * max |dW_k|`` (threshold relative to that update's largest
  entry; default 1e-2). ``collision_jaccard``: active in both / active in either (0 if neither).
- ``frobenius_cosine``: ``|<dW_i, dW_j>_F| / (||dW_i||_F ||dW_j||_F)``, 0 for orthogonal updates
  (the orthogonality that non-collision implies).
- per task: ``density`` (fraction of active entries; sparsity = 1 - density), ``nuclear_norm``
  (sum of singular values of ``dW_k``), ``frobenius_norm`` and ``l1_norm`` (sum of |entries|).

Subspace measures (standard definitions):

- ``input_overlap`` / ``output_overlap``: with ``V_k`` (``U_k``) an orthonormal basis of the row
  (column) space of ``dW_k`` (singular vectors whose singular value exceeds ``rank_rtol`` times the
  largest), ``||V_i^T V_j||_F^2 / min(rank_i, rank_j)``: the mean squared cosine of the principal
  angles between the two subspaces, 0 for orthogonal subspaces, 1 when one contains the other.
  O-LoRA makes the input subspaces (spans of the A rows) orthogonal.
- ``a_orthogonality_l1``: O-LoRA's own regulariser on the pair, ``sum |A_i A_j^T|`` (unscaled).

Nuclear norms, as in the N-LoRA release's analysis figure (their distributions for O-LoRA and
N-LoRA): ``nuclear_norm_per_layer[layer][k]`` is ``||dW_k||_*`` of task ``k`` in that adapted
layer, and ``nuclear_norm_distribution[task]`` summarises one task's values over the layers
(count, mean, population std, min, quartiles by linear interpolation, max).

Everything is computed in fp32 on the layer's device, one layer at a time, from the low-rank
factors where possible (SVDs of ``r x r`` cores), so it stays cheap on 7B-parameter models.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import torch
from torch import nn

from ..adapters import stacked_lora_layers

PAIR_MEASURES = (
    "collision_rate",
    "collision_jaccard",
    "frobenius_cosine",
    "input_overlap",
    "output_overlap",
    "a_orthogonality_l1",
)
TASK_MEASURES = ("density", "nuclear_norm", "frobenius_norm", "l1_norm")


@dataclass
class TaskUpdate:
    """One task's update of one layer: ``delta = scale * B @ A``."""

    a: torch.Tensor  # [r, d_in]
    b: torch.Tensor  # [d_out, r]
    scale: float = 1.0

    def dense(self) -> torch.Tensor:
        return self.scale * (self.b.float() @ self.a.float())

    def svd(self, rank_rtol: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(U, S, V)`` of ``dW`` restricted to singular values above ``rank_rtol * S_max``,
        from QR factorisations of B and A^T and the SVD of the small core."""
        qb, rb = torch.linalg.qr(self.b.float())
        qa, ra = torch.linalg.qr(self.a.float().T)
        core = self.scale * (rb @ ra.T)
        u, s, vh = torch.linalg.svd(core)
        peak = float(s.max()) if s.numel() else 0.0
        keep = s > rank_rtol * peak if peak > 0 else torch.zeros_like(s, dtype=torch.bool)
        return qb @ u[:, keep], s[keep], qa @ vh[keep].T


def _overlap(x: torch.Tensor, y: torch.Tensor) -> float | None:
    k = min(x.shape[1], y.shape[1])
    if k == 0:
        return None
    return float((x.T @ y).pow(2).sum() / k)


def _active(dense: torch.Tensor, rel_threshold: float) -> torch.Tensor:
    peak = dense.abs().max()
    if peak == 0:
        return torch.zeros_like(dense, dtype=torch.bool)
    return dense.abs() > rel_threshold * peak


def task_measures(update: TaskUpdate, rel_threshold: float = 1e-2) -> dict[str, float]:
    dense = update.dense()
    s = update.svd(0.0)[1]
    return {
        "density": float(_active(dense, rel_threshold).float().mean()),
        "nuclear_norm": float(s.sum()),
        "frobenius_norm": float(torch.linalg.vector_norm(dense)),
        "l1_norm": float(dense.abs().sum()),
    }


@dataclass
class _Prepared:
    """What the pair measures need from one update, computed once per task and layer."""

    update: TaskUpdate
    dense: torch.Tensor
    active: torch.Tensor
    norm: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor

    @classmethod
    def of(cls, update: TaskUpdate, rel_threshold: float, rank_rtol: float) -> _Prepared:
        dense = update.dense()
        u, _, v = update.svd(rank_rtol)
        return cls(
            update, dense, _active(dense, rel_threshold), torch.linalg.vector_norm(dense), u, v
        )


def _pair(first: _Prepared, second: _Prepared) -> dict[str, float | None]:
    if first.dense.shape != second.dense.shape:
        raise ValueError(
            f"updates differ in shape: {tuple(first.dense.shape)} vs {tuple(second.dense.shape)}"
        )
    both = (first.active & second.active).sum()
    either = (first.active | second.active).sum()
    n1, n2 = first.norm, second.norm
    inner = (first.dense * second.dense).sum()
    a1, a2 = first.update.a.float(), second.update.a.float()
    return {
        "collision_rate": float(both) / first.dense.numel(),
        "collision_jaccard": float(both) / float(either) if either > 0 else 0.0,
        "frobenius_cosine": float(inner.abs() / (n1 * n2)) if n1 > 0 and n2 > 0 else None,
        "input_overlap": _overlap(first.v, second.v),
        "output_overlap": _overlap(first.u, second.u),
        "a_orthogonality_l1": float((a1 @ a2.T).abs().sum()),
    }


def pair_measures(
    first: TaskUpdate,
    second: TaskUpdate,
    rel_threshold: float = 1e-2,
    rank_rtol: float = 1e-6,
) -> dict[str, float | None]:
    """Every pair measure of the module docstring for two updates of one layer."""
    return _pair(
        _Prepared.of(first, rel_threshold, rank_rtol),
        _Prepared.of(second, rel_threshold, rank_rtol),
    )


def layer_task_updates(model: nn.Module) -> dict[str, list[TaskUpdate]]:
    """Every stacked task's update, by adapted layer (tasks in training order)."""
    out = {}
    for name, layer in stacked_lora_layers(model).items():
        out[name] = [
            TaskUpdate(*(t.detach() for t in layer.task_slice(k)), scale=layer.scale)
            for k in range(len(layer.task_ranks))
        ]
    return out


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's and torch's default)."""
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])


def distribution(values: list[float]) -> dict[str, float | int | None]:
    """Count, mean, population std, min, quartiles and max of ``values`` (None when empty)."""
    keys = ("mean", "std", "min", "q1", "median", "q3", "max")
    if not values:
        return {"count": 0, **dict.fromkeys(keys)}
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered)
    return {
        "count": len(ordered),
        "mean": mean,
        "std": (sum((v - mean) ** 2 for v in ordered) / len(ordered)) ** 0.5,
        "min": ordered[0],
        "q1": _quantile(ordered, 0.25),
        "median": _quantile(ordered, 0.5),
        "q3": _quantile(ordered, 0.75),
        "max": ordered[-1],
    }


@torch.no_grad()
def analyse_task_updates(
    model: nn.Module,
    task_names: list[str] | None = None,
    rel_threshold: float = 1e-2,
    rank_rtol: float = 1e-6,
) -> dict[str, Any]:
    """Per layer and per task pair, then summarised: a JSON-ready dict.

    ``summary[measure]``: mean over layers and pairs; ``pair_matrix[measure][i][j]``: mean over
    layers (symmetric, ``None`` on the diagonal); ``per_layer[layer][measure]``: mean over pairs;
    ``per_task[measure][k]``: mean over layers; ``nuclear_norm_per_layer[layer][k]``: task ``k``'s
    nuclear norm in that layer; ``nuclear_norm_distribution[task]``: its summary over the layers
    (:func:`distribution`). With fewer than two stacked tasks (SeqLoRA, MTL,
    SeqFT) there are no pairs and the pair entries are empty.
    """
    updates = layer_task_updates(model)
    n_tasks = max((len(v) for v in updates.values()), default=0)
    names = list(task_names or [])[:n_tasks]
    names += [f"task{k}" for k in range(len(names), n_tasks)]
    pairs = list(combinations(range(n_tasks), 2))
    per_layer: dict[str, dict[str, Any]] = {}
    nuclear: dict[str, list[float]] = {}
    pair_sums = {m: [[[] for _ in range(n_tasks)] for _ in range(n_tasks)] for m in PAIR_MEASURES}
    task_sums = {m: [[] for _ in range(n_tasks)] for m in TASK_MEASURES}
    for layer, ups in updates.items():
        layer_pairs = {m: [] for m in PAIR_MEASURES}
        nuclear[layer] = []
        for k, up in enumerate(ups):
            for m, v in task_measures(up, rel_threshold).items():
                task_sums[m][k].append(v)
            nuclear[layer].append(task_sums["nuclear_norm"][k][-1])
        prepared = [_Prepared.of(up, rel_threshold, rank_rtol) for up in ups]
        for i, j in pairs:
            if j >= len(ups):
                continue
            values = _pair(prepared[i], prepared[j])
            for m, v in values.items():
                layer_pairs[m].append(v)
                pair_sums[m][i][j].append(v)
                pair_sums[m][j][i].append(v)
        per_layer[layer] = {m: _mean(vs) for m, vs in layer_pairs.items()}
    pair_matrix = {
        m: [
            [None if i == j else _mean(pair_sums[m][i][j]) for j in range(n_tasks)]
            for i in range(n_tasks)
        ]
        for m in PAIR_MEASURES
    }
    summary = {m: _mean([v for row in per_layer.values() for v in [row[m]]]) for m in PAIR_MEASURES}
    summary.update({f"mean_{m}": _mean([_mean(v) for v in task_sums[m]]) for m in TASK_MEASURES})
    return {
        "definitions": "cl_methods.analysis.task_updates (module docstring)",
        "rel_threshold": rel_threshold,
        "rank_rtol": rank_rtol,
        "tasks": names,
        "layers": list(updates),
        "pairs": [[names[i], names[j]] for i, j in pairs],
        "summary": summary,
        "pair_matrix": pair_matrix,
        "per_task": {m: [_mean(v) for v in task_sums[m]] for m in TASK_MEASURES},
        "per_layer": per_layer,
        "nuclear_norm_per_layer": nuclear,
        "nuclear_norm_distribution": {
            name: distribution(task_sums["nuclear_norm"][k]) for k, name in enumerate(names)
        },
    }
