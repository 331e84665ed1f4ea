"""Recurrent-KIF (Feng et al., ACL 2025): recurrent knowledge identification and fusion.

One LoRA adapter (carried across tasks) learns the stream. Task 0 is plain LoRA fine-tuning.
From task 1 on, after every inner optimizer step the inner importance EMAs are updated from the
step's clipped gradient and post-step weights; every K steps an outer loop takes M steps on
random batches of a small memory of earlier tasks (its own AdamW), updating the outer importance,
then the two weight changes since the anchor are fused element-wise (:mod:`.fusion`) and the
anchor moves to the fused weights. Spec: recurrent-kif.md; hooks: ``on_task_start`` (fresh state,
memory, anchor), ``after_optimizer_step`` (inner update, outer loop, fusion).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import jsonsafe
from ..adapters import canonical_name, reset_new_adapters, stacked_lora_layers, unwrap_model
from ..memory import MemoryBuffer, default_class_key
from ..method import StepInfo, TaskContext
from ..methods._stacked import StackedAdapterMethod
from ..registry import register_method
from .config import KIFConfig
from .fusion import FusionTable, fuse
from .importance import ImportanceState
from .selection import DevSelector


def lora_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Every trainable LoRA tensor (``lora_A``/``lora_B``) by canonical name (wrapper prefixes
    such as DDP's ``module.`` stripped, so wrapped and unwrapped models give the same keys)."""
    layers = stacked_lora_layers(unwrap_model(model))
    if not layers:
        raise ValueError("Recurrent-KIF needs LoRA adapters, but the model has none attached")
    out: dict[str, nn.Parameter] = {}
    for name, layer in layers.items():
        out[canonical_name(f"{name}.lora_A")] = layer.lora_A
        out[canonical_name(f"{name}.lora_B")] = layer.lora_B
    return out


def grads_finite(params: dict[str, nn.Parameter]) -> bool:
    """True when no LoRA gradient holds an inf or NaN (missing gradients count as zero)."""
    checks = [torch.isfinite(p.grad).all() for p in params.values() if p.grad is not None]
    return bool(torch.stack(checks).all()) if checks else True


@register_method("kif")
class RecurrentKIF(StackedAdapterMethod):
    config_class = KIFConfig
    config: KIFConfig
    stack_per_task = False

    def __init__(self, config: KIFConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.fusion_table = FusionTable()
        self.memory = MemoryBuffer(
            cfg.memory_ratio,
            cfg.memory_seed,
            class_of=lambda row: default_class_key(row, cfg.memory_class_key),
        )
        self.active = False
        self.inner = self._new_state()
        self.outer = self._new_state()
        self.anchor: dict[str, torch.Tensor] = {}
        self.outer_opt: torch.optim.Optimizer | None = None
        self.inner_opt: torch.optim.Optimizer | None = None
        self.generator = torch.Generator()
        self.stats: dict[str, Any] = self._new_stats()
        self.last_masks: dict[str, dict[str, torch.Tensor]] = {}
        self._pending: dict[str, Any] | None = None
        self._params: dict[str, nn.Parameter] = {}
        self._model: nn.Module | None = None
        self.selector = DevSelector(cfg.dev_every, cfg.dev_per_task, cfg.outer_batch_size)

    def set_dev_data(self, task: str, rows) -> None:
        """Dev rows of a task for ``select_best_on_dev`` (the first ``dev_per_task`` are used)."""
        self.selector.set_dev_data(task, rows)

    def _new_state(self) -> ImportanceState:
        cfg = self.config
        return ImportanceState(cfg.beta1, cfg.beta2, cfg.sensitivity)

    @staticmethod
    def _new_stats() -> dict[str, Any]:
        return {
            "inner_updates": 0,
            "inner_skipped": 0,
            "outer_steps": 0,
            "outer_skipped": 0,
            "fusions": 0,
            "last_fusion": None,
            "steps": 0,
        }

    # ------------------------------------------------------------------ task boundaries
    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        self._pending = None
        self._params = lora_parameters(model)
        self._model = model
        if task.index > 0 and not self.config.carry_adapters:
            reset_new_adapters(model)
        self.stats = self._new_stats()
        self.selector.reset()
        self.active = task.index > 0
        self.inner, self.outer = self._new_state(), self._new_state()
        self.anchor, self.outer_opt, self.last_masks = {}, None, {}
        if not self.active:
            return
        if len(self.memory) == 0:
            raise ValueError(
                f"task {task.name!r} (index {task.index}): the memory buffer is empty; earlier "
                "tasks need training examples (TaskContext.train_data)"
            )
        self.anchor = self._snapshot()
        self.outer_opt = self._make_outer_optimizer()
        self.generator = torch.Generator().manual_seed(
            self.config.memory_seed + 1_000_003 * task.rank + 7919 * task.index
        )

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        pending, self._pending = self._pending, None
        if pending is None or pending.get("task") != task.index:
            self.on_task_start(task, model)
            return
        self.task = task
        self._params = lora_parameters(model)
        self._model = model
        device = next(iter(self._params.values())).device
        self.active = bool(pending["active"])
        self.stats = dict(pending["stats"])
        self.inner, self.outer = self._new_state(), self._new_state()
        self.inner.load_state_dict(pending["inner"], device)
        self.outer.load_state_dict(pending["outer"], device)
        self.anchor = {k: v.to(device) for k, v in pending["anchor"].items()}
        self.outer_opt = None
        if self.active:
            self.outer_opt = self._make_outer_optimizer()
            self.outer_opt.load_state_dict(pending["outer_opt"])
        self.generator = torch.Generator()
        self.generator.set_state(pending["generator"])
        self.selector.load_state_dict(pending["selector"], device)

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        if self.config.select_best_on_dev:
            last = self.stats["steps"]
            if last % self.config.dev_every:  # the final weights are a candidate too
                self._check_dev(last)
            if self.selector.restore(self._params):
                self.stats["best_on_dev"] = {
                    "step": self.selector.best_step,
                    "loss": self.selector.best_loss,
                }
        super().on_task_end(task, model)
        if task.train_data is None:
            raise ValueError(f"task {task.name!r} has no training data for the memory buffer")
        self.memory.add_task(task.name, list(task.train_data))
        self.active = False

    def configure_optimizer(self, params, default):
        self.inner_opt = default(params)
        return self.inner_opt

    # ------------------------------------------------------------------ per step
    def after_optimizer_step(self, model: nn.Module, step: StepInfo) -> None:
        self.stats["steps"] = step.step
        if self.active:
            self._inner_and_fusion(step)
        if self.config.select_best_on_dev and step.step % self.config.dev_every == 0:
            self._check_dev(step.step)

    def _check_dev(self, step: int) -> None:
        """Dev loss over the seen tasks; keep the weights when it is the lowest of the task."""
        if self.task is None or self.task.collate is None:
            raise RuntimeError("select_best_on_dev needs the task's collate function")
        compute_loss = self.task.compute_loss
        if compute_loss is None:
            raise RuntimeError("select_best_on_dev needs the task's compute_loss (TaskContext)")
        seen = [*self.memory.task_names, self.task.name]
        device = next(iter(self._params.values())).device
        loss = self.selector.dev_loss(seen, self._model, compute_loss, self.task.collate, device)
        self.selector.consider(loss, step, self._params)

    def _inner_and_fusion(self, step: StepInfo) -> None:
        if step.applied and grads_finite(self._params):
            self.inner.update(self._triples())
            self.stats["inner_updates"] += 1
        else:
            self.stats["inner_skipped"] += 1
        if step.step % self.config.inner_iterations == 0:
            self.outer_and_fuse()

    def outer_and_fuse(self) -> None:
        """One K-step cycle: the outer loop on memory, then the fusion and the resets."""
        theta_k = self._snapshot()
        self.run_outer_loop()
        self.fuse_and_reset(theta_k)

    def run_outer_loop(self) -> None:
        """M outer steps on fresh memory batches (its own optimizer, clipped, importance)."""
        self._zero_grads()
        for _ in range(self.config.outer_iterations):
            self._outer_step()

    def fuse_and_reset(self, theta_k: dict[str, torch.Tensor]) -> None:
        """Fuse the inner change (theta_k - anchor) and the outer change (theta - theta_k) by the
        masks, move the anchor to the result, and clear the EMAs chosen by the resets."""
        cfg, params = self.config, self._params
        masks_in = self.inner.masks(theta_k, cfg.quantile, cfg.threshold_scope)
        masks_out = self.outer.masks(theta_k, cfg.quantile, cfg.threshold_scope)
        with torch.no_grad():
            for name, p in params.items():
                fused = fuse(
                    self.anchor[name],
                    theta_k[name],
                    p,
                    masks_in[name],
                    masks_out[name],
                    self.fusion_table,
                )
                p.copy_(fused.to(p.dtype))
        self.anchor = self._snapshot()
        self.last_masks = {"inner": masks_in, "outer": masks_out}
        self.stats["fusions"] += 1
        self.stats["last_fusion"] = _mask_summary(masks_in, masks_out)
        if cfg.debug_check_ranks:
            self.check_ranks()
        if cfg.reset_inner:
            self.inner.clear()
        if cfg.reset_outer:
            self.outer.clear()

    def _outer_step(self) -> None:
        cfg, params, task = self.config, self._params, self.task
        if task is None or task.compute_loss is None or task.collate is None:
            raise RuntimeError(
                "Recurrent-KIF's outer loop needs the task's compute_loss and collate "
                "(the trainer gives them; a plain loop sets them in the TaskContext)"
            )
        rows = self.memory.sample(cfg.outer_batch_size, self.generator)
        batch = task.collate(rows)
        device = next(iter(params.values())).device
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        loss, _ = task.compute_loss(batch)
        if cfg.outer_loss_div_ga:
            loss = loss / task.grad_accum
        task.run_backward(loss)
        optimizer = self.outer_opt if cfg.outer_optimizer == "adamw" else self.inner_opt
        if optimizer is None:
            raise RuntimeError("outer_optimizer='inner' needs the trainer's inner optimizer")
        scaler = task.grad_scaler
        if scaler is not None:
            scaler.unscale_(optimizer)
        finite = grads_finite(params)
        if finite:
            if cfg.outer_max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.outer_max_grad_norm)
            if scaler is not None:
                scaler.step(optimizer)
            else:
                optimizer.step()
            self.outer.update(self._triples())
            self.stats["outer_steps"] += 1
        else:
            self.stats["outer_skipped"] += 1
        if scaler is not None:
            scaler.update()
        self._zero_grads()

    # ------------------------------------------------------------------ helpers
    def _triples(self):
        zeros = torch.zeros_like
        return [(n, p, p.grad if p.grad is not None else zeros(p)) for n, p in self._params.items()]

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().float().clone() for n, p in self._params.items()}

    def _zero_grads(self) -> None:
        for p in self._params.values():
            p.grad = None

    def _make_outer_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        return torch.optim.AdamW(
            list(self._params.values()),
            lr=cfg.outer_lr,
            betas=cfg.outer_betas,
            eps=cfg.outer_eps,
            weight_decay=cfg.outer_weight_decay,
        )

    def check_ranks(self) -> None:
        """Raise when processes disagree on the weights or the masks (debug_check_ranks)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        device = next(iter(self._params.values())).device
        sums = [p.detach().double().sum() for p in self._params.values()]
        for side in ("inner", "outer"):
            sums += [m.double().sum() for m in self.last_masks[side].values()]
        local = torch.stack(sums).to(device)
        gathered = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, local)
        for rank, other in enumerate(gathered):
            if not torch.equal(other, gathered[0]):
                raise RuntimeError(
                    f"Recurrent-KIF: rank {rank} disagrees with rank 0 on weights or masks after "
                    f"fusion {self.stats['fusions']} (are gradients synchronised?)"
                )

    # ------------------------------------------------------------------ export and checkpoints
    def export_task(self, task: TaskContext, model: nn.Module, directory: Path) -> None:
        super().export_task(task, model, directory)
        stats = {"task": task.name, "memory_size": len(self.memory), **self.stats}
        (directory / "kif_stats.json").write_text(jsonsafe.dumps(stats, indent=2))

    def state_dict(self) -> dict[str, Any]:
        return {
            "task": None if self.task is None else self.task.index,
            "memory": self.memory.state_dict(),
            "active": self.active,
            "inner": self.inner.state_dict(),
            "outer": self.outer.state_dict(),
            "anchor": {k: v.cpu() for k, v in self.anchor.items()},
            "outer_opt": None if self.outer_opt is None else self.outer_opt.state_dict(),
            "generator": self.generator.get_state(),
            "stats": dict(self.stats),
            "selector": self.selector.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.memory.load_state_dict(state["memory"])
        self._pending = state


def _mask_summary(masks_in, masks_out) -> dict[str, float]:
    total = sum(m.numel() for m in masks_in.values())
    both = sum(int((masks_in[n] & masks_out[n]).sum()) for n in masks_in)
    inner = sum(int(m.sum()) for m in masks_in.values())
    outer = sum(int(m.sum()) for m in masks_out.values())
    return {
        "elements": total,
        "inner_important": inner / total,
        "outer_important": outer / total,
        "both": both / total,
    }
