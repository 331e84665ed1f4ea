"""Checkpoints of a continual run: safetensors for tensors, JSON for everything else, no pickle.

A checkpoint folder ``checkpoints/ckpt-<global step>-t<task>-<status>/`` holds

- ``state.json``: the position in the stream, the run's identity (task names, method and its
  config, seed, process count), the accuracy matrix so far and the trainer's counters;
- ``model.safetensors`` (every parameter that was ever trainable plus persistent buffers) and
  ``model_extra.json`` (modules' extra state, e.g. the stacked adapters' per-task ranks);
- ``method.json`` / ``method.safetensors``: :meth:`Method.state_dict`;
- ``optimizer.*`` (mid-task: the task's optimizer) or ``kept_optimizer.*`` (at a task boundary:
  the optimizer a method keeps across tasks), saved BY PARAMETER NAME: each group's parameter
  names and hyperparameters plus each parameter's state, so a resumed run rebuilds exactly the
  same groups; ``scheduler.json``; ``scaler.json`` under fp16;
- ``rng-<rank>.json`` / ``.safetensors``: Python, NumPy, torch (and CUDA) RNG states of every
  process, written at EVERY checkpoint (task boundaries too) and restored on every resume.

Folders are written under a temporary name and renamed; ``latest`` names the newest.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from .. import jsonsafe
from ..state_io import load_state, plain, save_safetensors, save_state

LATEST = "latest"
log = logging.getLogger(__name__)


# ---- RNG ---------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---- model -------------------------------------------------------------------------------------
def model_tensors(model: nn.Module, names: set[str]) -> dict[str, torch.Tensor]:
    """The named parameters in ``names`` plus every persistent buffer, detached on the CPU."""
    params = {n for n, _ in model.named_parameters()}
    out = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor) or (key in params and key not in names):
            continue
        # safetensors refuses tensors that share storage: give each its own copy.
        out[key] = value.detach().cpu().contiguous().clone()
    return out


def restore_model(folder: Path, model: nn.Module) -> None:
    """Load the saved tensors and extra state; frozen parameters were not saved (they never
    change), anything the model lacks is an error."""
    tensors = load_file(str(folder / "model.safetensors"))
    extra = load_state(folder, "model_extra")
    unknown = sorted(set(tensors) - set(model.state_dict()))
    if unknown:
        raise ValueError(f"checkpoint {folder} has tensors the model lacks: {unknown[:5]}")
    model.load_state_dict({**tensors, **extra}, strict=False)


# ---- optimizers by parameter name ----------------------------------------------------------------
def optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, Any]:
    """The optimizer's groups (parameter names + hyperparameters) and per-parameter state by
    name. Every parameter it holds must belong to ``model``."""
    names = {id(p): n for n, p in model.named_parameters()}
    raw = optimizer.state_dict()
    order = [p for group in optimizer.param_groups for p in group["params"]]
    missing = [i for i, p in enumerate(order) if id(p) not in names]
    if missing:
        raise ValueError(
            f"the optimizer holds {len(missing)} tensor(s) that are not model parameters"
        )
    index_name = {i: names[id(p)] for i, p in enumerate(order)}
    groups = []
    for group in raw["param_groups"]:
        hyper = {k: v for k, v in group.items() if k != "params"}
        groups.append({"hyper": hyper, "params": [index_name[i] for i in group["params"]]})
    state = {index_name[i]: s for i, s in raw["state"].items()}
    return {"class": type(optimizer).__name__, "groups": groups, "state": state}


def restore_optimizer(
    optimizer: torch.optim.Optimizer, saved: dict[str, Any], model: nn.Module
) -> None:
    """Give ``optimizer`` (built by the method, so of the right class) the saved groups and
    state, by parameter name."""
    if saved["class"] != type(optimizer).__name__:
        raise ValueError(
            f"checkpoint optimizer is a {saved['class']}, the method now builds a "
            f"{type(optimizer).__name__}"
        )
    params = dict(model.named_parameters())
    absent = sorted({n for g in saved["groups"] for n in g["params"]} - set(params))
    if absent:
        raise ValueError(f"checkpoint optimizer holds parameters the model lacks: {absent[:5]}")
    optimizer.param_groups.clear()
    optimizer.state.clear()
    for group in saved["groups"]:
        optimizer.add_param_group(
            {**group["hyper"], "params": [params[n] for n in group["params"]]}
        )
    index, groups = {}, []
    for group in saved["groups"]:
        ids = []
        for name in group["params"]:
            index[name] = len(index)
            ids.append(index[name])
        groups.append({**group["hyper"], "params": ids})
    state = {index[name]: value for name, value in saved["state"].items()}
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ---- folders -------------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(jsonsafe.dumps(data, indent=2))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class CheckpointDir:
    """The ``checkpoints/`` folder of a run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def latest(self) -> Path | None:
        pointer = self.root / LATEST
        if not pointer.is_file():
            return None
        path = self.root / pointer.read_text().strip()
        return path if (path / "state.json").is_file() else None

    def begin(self, tag: str) -> Path:
        """A fresh temporary folder to fill (the caller then calls :meth:`commit`)."""
        tmp = self.staging(tag)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        return tmp

    def staging(self, tag: str) -> Path:
        return self.root / f".tmp-{tag}"

    def commit(self, tmp: Path, tag: str, keep: int) -> Path:
        final = self.root / tag
        if final.exists():
            shutil.rmtree(final)
        _fsync_dir(tmp)
        tmp.rename(final)
        pointer_tmp = self.root / (LATEST + ".tmp")
        pointer_tmp.write_text(tag)
        pointer_tmp.replace(self.root / LATEST)
        _fsync_dir(self.root)
        self._prune(keep, final)
        return final

    def _prune(self, keep: int, current: Path) -> None:
        done = sorted(
            (p for p in self.root.glob("ckpt-*") if p.is_dir()), key=lambda p: p.stat().st_mtime
        )
        for old in done[:-keep]:
            if old != current:
                shutil.rmtree(old, ignore_errors=True)


def write_model(folder: Path, model: nn.Module, touched: set[str]) -> None:
    tmp = folder / "model.safetensors.tmp"
    save_safetensors(model_tensors(model, touched), tmp)
    tmp.replace(folder / "model.safetensors")
    extra = {k: v for k, v in model.state_dict().items() if not torch.is_tensor(v)}
    save_state(folder, "model_extra", extra)


def run_differences(saved: dict[str, Any], current: dict[str, Any]) -> str:
    """The keys of ``current`` (an identity: task names, method, its config, seed, processes)
    whose saved values differ, as one line ``key (saved X, now Y), ...``; empty when none.
    The method's config is compared key by key (``method_config.lambda_1``)."""
    out = []
    for key, now in plain(current).items():
        was = plain(saved.get(key, "<absent>"))
        if key == "method_config" and isinstance(was, dict) and isinstance(now, dict):
            for sub in sorted(set(was) | set(now)):
                a, b = was.get(sub, "<absent>"), now.get(sub, "<absent>")
                if a != b:
                    out.append(f"method_config.{sub} (saved {a!r}, now {b!r})")
        elif was != now:
            out.append(f"{key} (saved {was!r}, now {now!r})")
    return ", ".join(out)


# ---- the trainer's checkpoints ------------------------------------------------------------------
@dataclass
class Position:
    """Where a run stands; saved in every checkpoint."""

    task: int = 0  # index of the task being trained (or last trained)
    status: str = "start"  # "start" | "in_task" | "task_done"
    epoch: int = 0
    step_in_epoch: int = 0  # optimizer steps finished in this epoch
    task_step: int = 0
    global_step: int = 0
    baseline_done: bool = False
    task_skipped: int = 0  # optimizer steps of this task skipped for non-finite values
    task_loss_sum: float = 0.0  # finite step losses of this task so far (its mean_loss)
    task_loss_count: int = 0

    def advance(self, loss: float) -> None:
        """One optimizer step done; a finite loss joins the task's mean (kept over a resume)."""
        self.step_in_epoch += 1
        self.task_step += 1
        self.global_step += 1
        if math.isfinite(loss):
            self.task_loss_sum += loss
            self.task_loss_count += 1

    def end_task(self, name: str, steps: int, warn: bool) -> tuple[int, float | None]:
        """Close the task's counters: (skipped steps, mean finite loss), warning about skips."""
        skipped, count = self.task_skipped, self.task_loss_count
        if skipped and warn:
            log.warning(
                "task %s: %d of %d optimizer steps skipped (non-finite loss or gradient)",
                name, skipped, steps,
            )  # fmt: skip
        mean_loss = float(self.task_loss_sum / count) if count else None
        self.epoch = self.step_in_epoch = self.task_step = self.task_skipped = 0
        self.task_loss_sum, self.task_loss_count = 0.0, 0
        return skipped, mean_loss


class DivergedError(FloatingPointError):
    """Too many optimizer steps in a row had a non-finite loss or gradient: the run stops
    rather than report numbers of a diverged model."""


class Checkpointer:
    """Saves and restores a :class:`~cl_methods.trainer.ContinualTrainer` run (see the module
    docstring); also holds the counters that travel in ``state.json``."""

    def __init__(self, root: Path, accelerator: Any, config: Any) -> None:
        self.dir = CheckpointDir(root)
        self.acc = accelerator
        self.config = config
        self.touched: set[str] = set()  # parameters that were ever trainable
        self.consecutive_nonfinite = 0
        self.skipped_steps = 0

    def identity(self, trainer: Any, names: list[str]) -> dict[str, Any]:
        """What a checkpoint must share with the run that resumes from it."""
        return {
            "task_names": list(names),
            "method": trainer.method.name,
            "method_config": plain(trainer.method.config.to_dict()),
            "seed": self.config.seed,
            "num_processes": self.acc.num_processes,
        }

    def save(
        self, trainer: Any, result: Any, optimizer=None, scheduler=None, kept=None, staged=None
    ) -> Path:
        acc, pos = self.acc, trainer.pos
        tag = f"ckpt-{pos.global_step:07d}-t{pos.task:02d}-{pos.status}"
        acc.wait_for_everyone()
        folder = self.dir.begin(tag) if acc.is_main_process else self.dir.staging(tag)
        acc.wait_for_everyone()
        save_state(folder, f"rng-{acc.process_index}", rng_state())  # dropout differs per rank
        if acc.is_main_process:
            write_model(folder, trainer.model, self.touched)
            save_state(folder, "method", trainer.method.state_dict())
            if optimizer is not None:
                save_state(folder, "optimizer", optimizer_state(optimizer, trainer.model))
                save_state(folder, "scheduler", scheduler.state_dict())
            if kept is not None:
                save_state(folder, "kept_optimizer", optimizer_state(kept, trainer.model))
            if acc.scaler is not None:
                save_state(folder, "scaler", acc.scaler.state_dict())
            state = {
                **self.identity(trainer, result.task_names),
                "position": dataclasses.asdict(pos),
                "touched": sorted(self.touched),
                "consecutive_nonfinite": self.consecutive_nonfinite,
                "skipped_steps": self.skipped_steps,
                "result": result.to_dict(),
            }
            write_json_atomic(folder / "state.json", state)
        acc.wait_for_everyone()
        if staged is not None:
            staged(folder)
        acc.wait_for_everyone()
        final = self.dir.root / tag
        if acc.is_main_process:
            final = self.dir.commit(folder, tag, self.config.keep_checkpoints)
        acc.wait_for_everyone()
        return final

    def resume(self, trainer: Any, names: list[str], result: Any) -> tuple[Path | None, Any]:
        """Restore the latest checkpoint into ``trainer`` (after ``prepare``): position,
        counters, results, method state; at a task boundary also the model, the method's kept
        optimizer and the RNG states. Returns ``(folder, result)``; folder is None when there is
        no checkpoint (the run starts from scratch)."""
        folder = self.dir.latest()
        if folder is None:
            if self.acc.is_main_process:
                log.info("no checkpoint in %s: starting from scratch", self.dir.root)
            return None, result
        state = json.loads((folder / "state.json").read_text())
        differences = run_differences(state, self.identity(trainer, names))
        if differences:
            raise ValueError(f"cannot resume from {folder}: the run differs in {differences}")
        trainer.pos = Position(**state["position"])
        self.touched = set(state["touched"])
        self.consecutive_nonfinite = state["consecutive_nonfinite"]
        self.skipped_steps = state["skipped_steps"]
        result = type(result).from_dict(state["result"])
        trainer.method.load_state_dict(load_state(folder, "method"))
        if (folder / "scaler.json").is_file() and self.acc.scaler is not None:
            self.acc.scaler.load_state_dict(load_state(folder, "scaler"))
        if trainer.pos.status != "in_task":
            self.restore_model(folder, trainer.model)
            if (folder / "kept_optimizer.json").is_file():
                self._restore_kept(folder, trainer)
            self.restore_rng(folder)
        if self.acc.is_main_process:
            log.info("resuming from %s at %s", folder, trainer.pos)
        return folder, result

    def _restore_kept(self, folder: Path, trainer: Any) -> None:
        from .optim import default_optimizer

        saved = load_state(folder, "kept_optimizer")
        params = dict(trainer.model.named_parameters())
        held = [params[n] for g in saved["groups"] for n in g["params"]]
        build = default_optimizer(self.config, trainer.model, self.config.lr)
        optimizer = trainer.method.configure_optimizer(held, build)
        restore_optimizer(optimizer, saved, trainer.model)
        trainer.method.optimizer = optimizer

    def restore_model(self, folder: Path, model: nn.Module) -> None:
        restore_model(folder, model)

    def restore_optimizer(self, folder: Path, name: str, optimizer, model: nn.Module) -> None:
        restore_optimizer(optimizer, load_state(folder, name), model)

    def restore_scheduler(self, folder: Path, scheduler) -> None:
        """Load the schedule's position; creating the scheduler reset the groups' lr to the
        schedule's start, so they get back the lr of the checkpoint's step."""
        scheduler.load_state_dict(load_state(folder, "scheduler"))
        for group, lr in zip(
            scheduler.optimizer.param_groups, scheduler.get_last_lr(), strict=True
        ):
            group["lr"] = lr

    def restore_rng(self, folder: Path) -> None:
        set_rng_state(load_state(folder, f"rng-{self.acc.process_index}"))
