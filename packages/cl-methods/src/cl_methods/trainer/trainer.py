"""The continual trainer: one task after another, one method's hooks, one accuracy matrix.

Built on ``accelerate`` for device placement, mixed precision, loss scaling, gradient gathering
and trackers, so the same code runs on a CPU, one GPU, or several processes under
``accelerate launch``. Gradient accumulation is explicit (see :mod:`.schedule`), so that
parameter-only penalties are added once per optimizer step and a run can resume at any step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedType, set_seed
from torch import nn
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..method import Method, StepInfo, TaskContext
from .checkpoint import (
    CheckpointDir,
    load_model_tensors,
    model_tensors,
    rng_state,
    save_model_tensors,
    set_rng_state,
    write_json_atomic,
)
from .config import TrainerConfig
from .results import ContinualResult, TaskScore
from .schedule import (
    continuous_slots,
    continuous_steps_per_epoch,
    epoch_permutation,
    micro_batches,
    step_slots,
    steps_per_epoch,
)

log = logging.getLogger(__name__)

MODEL_INPUT_KEYS = (
    "input_ids",
    "attention_mask",
    "labels",
    "decoder_input_ids",
    "decoder_attention_mask",
    "token_type_ids",
    "position_ids",
)
KILL_ENV = "CL_TRAINER_KILL_AFTER_STEP"  # test hook: SIGKILL this process after that global step

Evaluate = Callable[[nn.Module, Any, Accelerator], "TaskScore | float"]


@dataclass
class TrainTask:
    """A task as the trainer sees it. Any object with ``name`` and ``train`` (and optionally
    ``collate`` and ``params``) works; this dataclass is a convenience."""

    name: str
    train: Sequence[Any]
    collate: Callable[[list[Any]], dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    eval: Any = None


@dataclass
class _Position:
    """Where a run stands; saved in every checkpoint."""

    task: int = 0  # index of the task being trained (or next to train)
    status: str = "start"  # "start" | "in_task" | "task_done"
    epoch: int = 0
    step_in_epoch: int = 0  # optimizer steps finished in this epoch
    task_step: int = 0
    global_step: int = 0
    baseline_done: bool = False


class ContinualTrainer:
    """Train ``method`` on a stream of tasks and evaluate after each task.

    ``evaluate(model, task, accelerator)`` returns a :class:`TaskScore` (or a number) for one task;
    it is called on every process (shard the work and gather inside, as
    :class:`cl_methods.evaluation.GenerationEvaluator` does).
    """

    def __init__(
        self,
        model: nn.Module,
        method: Method,
        config: TrainerConfig,
        evaluate: Evaluate | None = None,
        collate: Callable[[list[Any]], dict[str, Any]] | None = None,
        accelerator: Accelerator | None = None,
    ) -> None:
        self.config = config
        self.method = method
        self.evaluate = evaluate
        self.collate = collate
        self.output_dir = Path(config.output_dir)
        self.accelerator = accelerator or self._make_accelerator(config)
        self.model = model
        self._wrapped: nn.Module | None = None
        self._wrapped_params: tuple[int, ...] = ()
        self._touched: set[str] = set()
        self._consecutive_nonfinite = 0
        self._skipped_steps = 0

    # ------------------------------------------------------------------ set-up helpers
    def _make_accelerator(self, cfg: TrainerConfig) -> Accelerator:
        trackers = []
        for name in cfg.log_with:
            if name == "wandb":
                try:
                    import wandb  # noqa: F401
                except ImportError:
                    log.warning("wandb is not installed: logging to wandb is off")
                    continue
            trackers.append(name)
        # Without CUDA, accelerate only joins a multi-process (gloo) group when told cpu=True.
        kwargs = {
            "cpu": not torch.cuda.is_available(),
            "mixed_precision": cfg.mixed_precision,
            "log_with": trackers or None,
            "project_dir": str(self.output_dir),
        }
        try:
            return Accelerator(**kwargs)
        except ValueError as err:
            if "already been initialized" not in str(err):
                raise
        # A second run in the same process with other settings (another precision): reset the
        # accelerator's global state but keep the process group (PartialState).
        AcceleratorState._reset_state(reset_partial_state=False)
        return Accelerator(**kwargs)

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def _wrap_for_training(self, model: nn.Module) -> nn.Module:
        """DDP-wrap the model for this task's trainable parameters (again when they change)."""
        acc = self.accelerator
        if acc.num_processes == 1:
            return model
        trainable = tuple(id(p) for p in model.parameters() if p.requires_grad)
        if self._wrapped is not None and trainable == self._wrapped_params:
            return self._wrapped
        if acc.distributed_type not in (DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
            if self._wrapped is not None:
                raise RuntimeError(
                    f"{acc.distributed_type} needs a fixed set of trainable parameters; "
                    f"method {self.method.name!r} changes it between tasks"
                )
            wrapped = acc.prepare_model(model)
        else:
            device_ids = [acc.local_process_index] if acc.device.type == "cuda" else None
            wrapped = nn.parallel.DistributedDataParallel(
                model,
                device_ids=device_ids,
                find_unused_parameters=bool(self.config.extra.get("find_unused_parameters")),
            )
        self._wrapped, self._wrapped_params = wrapped, trainable
        return wrapped

    def _default_optimizer(
        self, lr: float
    ) -> Callable[[list[nn.Parameter]], torch.optim.Optimizer]:
        cfg = self.config

        def build(params: list[nn.Parameter]) -> torch.optim.Optimizer:
            return torch.optim.AdamW(
                self._param_groups(params),
                lr=lr,
                betas=cfg.adam_betas,
                eps=cfg.adam_eps,
                weight_decay=cfg.weight_decay,
            )

        return build

    def _param_groups(self, params: list[nn.Parameter]) -> list[Any]:
        """``params`` split by ``config.param_groups`` name prefixes (unchanged without any)."""
        prefixes = self.config.param_groups
        if not prefixes:
            return params
        names = {id(p): n for n, p in self.model.named_parameters()}
        groups: dict[str, list[nn.Parameter]] = {prefix: [] for prefix in prefixes}
        rest: list[nn.Parameter] = []
        for p in params:
            name = names.get(id(p), "")
            match = next((x for x in prefixes if name == x or name.startswith(x + ".")), None)
            (groups[match] if match is not None else rest).append(p)
        out: list[Any] = [{"params": rest}] if rest else []
        for prefix, members in groups.items():
            if members:
                out.append({"params": members, **dict(prefixes[prefix])})
        return out

    def _scheduler(self, optimizer: torch.optim.Optimizer, total_steps: int):
        cfg = self.config
        warmup = cfg.warmup_steps or math.ceil(cfg.warmup_ratio * total_steps)
        name = "constant_with_warmup" if cfg.lr_scheduler == "constant" else cfg.lr_scheduler
        return get_scheduler(
            name,
            optimizer,
            num_warmup_steps=warmup,
            num_training_steps=max(total_steps, 1),
        )

    def _context(self, index: int, task: Any, data: Sequence[Any], n: int) -> TaskContext:
        return TaskContext(
            index=index,
            name=task.name,
            train_data=data,
            collate=getattr(task, "collate", None) or self.collate,
            params=dict(getattr(task, "params", {}) or {}),
            num_tasks=n,
            services={
                "accelerator": self.accelerator,
                "compute_loss": self._compute_loss,
                "trainer": self,
            },
        )

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        device = self.accelerator.device
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        """Task loss of one (collated, on-device) batch through the training model, under
        autocast; methods' ``forward_loss`` replaces the model's own loss."""
        model = self._wrapped if self._wrapped is not None else self.model
        with self.accelerator.autocast():
            custom = self.method.forward_loss(batch, model)
            if custom is not None:
                return custom
            outputs = model(**{k: v for k, v in batch.items() if k in MODEL_INPUT_KEYS})
        if getattr(outputs, "loss", None) is None:
            raise ValueError(
                "the model returned no loss: batches need `labels`, or the method must "
                "implement forward_loss"
            )
        return outputs.loss, outputs

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, task: Any) -> TaskScore:
        model = self.method.eval_model(self.model, task.name)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                score = TaskScore.coerce(self.evaluate(model, task, self.accelerator))
        finally:
            model.train(was_training)
        return score

    def _eval_row(self, result: ContinualResult, row: int, tasks: list[Any], upto: int) -> None:
        """Evaluate tasks [0, upto] (all tasks with eval_future) into row ``row`` of R."""
        if self.evaluate is None:
            return
        cols = range(len(tasks)) if self.config.eval_future else range(upto + 1)
        for j in cols:
            score = self._evaluate(tasks[j])
            result.record(row, j, score)
            self._write_predictions(row, tasks, j, score)
            self.accelerator.log({f"eval/{tasks[j].name}": score.score}, step=self._pos.global_step)

    def _write_predictions(self, row: int, tasks: list[Any], col: int, score: TaskScore) -> None:
        if not self.is_main or not score.predictions:
            return
        folder = self.output_dir / "predictions"
        folder.mkdir(parents=True, exist_ok=True)
        after = tasks[row].name if row < len(tasks) and not self._joint else "joint"
        path = folder / f"after{row:02d}_{tasks[col].name}.jsonl"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for pred in score.predictions:
                line = {"after_task": row, "after_task_name": after, "task": tasks[col].name}
                line.update(pred)
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        tmp.replace(path)

    # ------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self, result: ContinualResult, opt=None, sched=None) -> None:
        acc = self.accelerator
        ckpts = CheckpointDir(self.output_dir / "checkpoints")
        tag = f"ckpt-{self._pos.global_step:07d}-t{self._pos.task:02d}-{self._pos.status}"
        acc.wait_for_everyone()
        folder = ckpts.root / f".tmp-{tag}"
        if self.is_main:
            folder = ckpts.begin(tag)
        acc.wait_for_everyone()
        # Every process saves its own RNG state (dropout masks differ per rank).
        torch.save(rng_state(), folder / f"rng-{acc.process_index}.pt")
        if self.is_main:
            model = self.model
            save_model_tensors(folder / "model.safetensors", model_tensors(model, self._touched))
            extra = {k: v for k, v in model.state_dict().items() if not torch.is_tensor(v)}
            torch.save(extra, folder / "model_extra.pt")
            torch.save(self.method.state_dict(), folder / "method.pt")
            if opt is not None:
                torch.save(opt.state_dict(), folder / "optimizer.pt")
                torch.save(sched.state_dict(), folder / "scheduler.pt")
            state = {
                "position": self._pos.__dict__,
                "task_names": result.task_names,
                "method": self.method.name,
                "seed": self.config.seed,
                "num_processes": acc.num_processes,
                "touched": sorted(self._touched),
                "consecutive_nonfinite": self._consecutive_nonfinite,
                "skipped_steps": self._skipped_steps,
                "result": result.to_dict(),
            }
            write_json_atomic(folder / "state.json", state)
        acc.wait_for_everyone()
        if self.is_main:
            ckpts.commit(folder, tag, self.config.keep_checkpoints)
        acc.wait_for_everyone()

    def _load_checkpoint(self, names: list[str]) -> tuple[Path, dict[str, Any]] | None:
        latest = CheckpointDir(self.output_dir / "checkpoints").latest()
        if latest is None:
            return None
        state = json.loads((latest / "state.json").read_text())
        problems = []
        if state["task_names"] != names:
            problems.append(f"tasks {state['task_names']} != {names}")
        if state["method"] != self.method.name:
            problems.append(f"method {state['method']!r} != {self.method.name!r}")
        if state["seed"] != self.config.seed:
            problems.append(f"seed {state['seed']} != {self.config.seed}")
        if state["num_processes"] != self.accelerator.num_processes:
            problems.append(
                f"{state['num_processes']} processes != {self.accelerator.num_processes}"
            )
        if problems:
            raise ValueError(f"cannot resume from {latest}: " + "; ".join(problems))
        return latest, state

    def _restore_model(self, folder: Path) -> None:
        tensors = load_model_tensors(folder / "model.safetensors")
        extra = torch.load(folder / "model_extra.pt", weights_only=False)
        target = self.model.state_dict()
        unknown = sorted(set(tensors) - set(target))
        if unknown:
            raise ValueError(f"checkpoint {folder} has tensors the model lacks: {unknown[:5]}")
        missing, _ = self.model.load_state_dict({**tensors, **extra}, strict=False)
        del missing  # frozen parameters are not saved: they never change

    # ------------------------------------------------------------------ the run
    def fit(self, tasks: Iterable[Any], resume: bool = False) -> ContinualResult:
        cfg, acc, method = self.config, self.accelerator, self.method
        tasks = list(tasks)
        if not tasks:
            raise ValueError("the task stream is empty")
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        self._joint = bool(method.joint_training)
        train_tasks = [self._joint_task(tasks)] if self._joint else tasks
        self._tasks_for_eval = tasks
        self.output_dir.mkdir(parents=True, exist_ok=True)

        set_seed(cfg.seed)
        self.model = method.prepare(self.model)
        self.model.to(acc.device)
        self.model.train()
        result = ContinualResult.empty(names, rows=len(train_tasks))
        self._pos = _Position()

        loaded = self._load_checkpoint(names) if resume else None
        if loaded is not None:
            folder, state = loaded
            self._pos = _Position(**state["position"])
            self._touched = set(state["touched"])
            self._consecutive_nonfinite = state["consecutive_nonfinite"]
            self._skipped_steps = state["skipped_steps"]
            result = ContinualResult.from_dict(state["result"])
            method.load_state_dict(torch.load(folder / "method.pt", weights_only=False))
            if self._pos.status != "in_task":
                self._restore_model(folder)
            if self.is_main:
                log.info("resuming from %s at %s", folder, self._pos)
        elif resume and self.is_main:
            log.info("no checkpoint in %s: starting from scratch", self.output_dir)

        if self.is_main:
            write_json_atomic(
                self.output_dir / "trainer_config.json",
                {"trainer": cfg.to_dict(), "method": method.name, "tasks": names},
            )
        acc.init_trackers("continual", config=_flat_config(cfg, method))

        if cfg.eval_before_training and not self._pos.baseline_done:
            baseline = [self._evaluate(t) for t in tasks]
            result.baseline = [b.score for b in baseline]
            result.epoch_scores.append(
                {
                    "task": -1,
                    "epoch": 0,
                    "scores": {
                        t.name: {"score": b.score, **b.extra} for t, b in zip(tasks, baseline)
                    },
                }
            )
            self._pos.baseline_done = True

        first = self._pos.task + (1 if self._pos.status == "task_done" else 0)
        for index in range(first, len(train_tasks)):
            task = train_tasks[index]
            resuming = loaded is not None and self._pos.status == "in_task"
            stats = self._run_task(
                index, task, len(train_tasks), result, loaded if resuming else None
            )
            result.train_stats.append(stats)
            loaded = None
            upto = len(tasks) - 1 if self._joint else index
            self._eval_row(result, index, tasks, upto)
            self._pos.status = "task_done"
            self._save_checkpoint(result)
            if self.is_main:
                self._write_results(result)
                log.info("after task %d (%s):\n%s", index, task.name, result.format_matrix())
        acc.end_training()
        if self.is_main:
            self._write_results(result)
        return result

    def _joint_task(self, tasks: list[Any]) -> TrainTask:
        data: list[Any] = []
        for t in tasks:
            data.extend(t.train)
        collate = getattr(tasks[0], "collate", None)
        return TrainTask(name="joint", train=data, collate=collate, params=dict(tasks[0].params))

    def _write_results(self, result: ContinualResult) -> None:
        write_json_atomic(self.output_dir / "trainer_results.json", result.to_dict())

    def _run_task(
        self,
        index: int,
        task: Any,
        num_tasks: int,
        result: ContinualResult,
        loaded: tuple[Path, dict[str, Any]] | None,
    ) -> dict[str, Any]:
        cfg, acc, method = self.config, self.accelerator, self.method
        params_over = dict(getattr(task, "params", {}) or {})
        lr = float(params_over.get("lr", cfg.lr))
        epochs = int(params_over.get("epochs", cfg.epochs)) + method.extra_epochs(index)
        ctx = self._context(index, task, task.train, num_tasks)
        data = list(method.task_train_data(ctx, task.train))
        collate = ctx.collate
        if collate is None:
            raise ValueError(f"task {task.name!r} has no collate function and the trainer has none")
        world, rank = acc.num_processes, acc.process_index
        continuous = cfg.step_schedule == "continuous"
        count = continuous_steps_per_epoch if continuous else steps_per_epoch
        per_epoch = count(len(data), cfg.batch_size, cfg.grad_accum, world)
        total = per_epoch * epochs

        _begin_model_task(self.model, index)
        if loaded is not None:
            method.on_task_resume(ctx, self.model)
            self._restore_model(loaded[0])
        else:
            method.on_task_start(ctx, self.model)
            self._pos = _Position(
                task=index,
                status="in_task",
                global_step=self._pos.global_step,
                baseline_done=self._pos.baseline_done,
            )
        params = method.trainable_parameters(self.model)
        if not params:
            raise ValueError(
                f"method {method.name!r} leaves no trainable parameter for {task.name}"
            )
        self._touched |= {n for n, p in self.model.named_parameters() if p.requires_grad}
        optimizer = method.configure_optimizer(params, self._default_optimizer(lr))
        scheduler = self._scheduler(optimizer, total)
        optimizer = acc.prepare_optimizer(optimizer)
        if loaded is not None:
            folder = loaded[0]
            optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=False))
            scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=False))
            set_rng_state(torch.load(folder / f"rng-{rank}.pt", weights_only=False))
        wrapped = self._wrap_for_training(self.model)
        self.model.train()

        bar = tqdm(
            total=total,
            initial=self._pos.task_step,
            desc=f"task {index + 1}/{num_tasks} {task.name}",
            disable=not (cfg.progress and acc.is_local_main_process),
            dynamic_ncols=True,
        )
        started, losses = time.time(), []
        while self._pos.epoch < epochs:
            perm = epoch_permutation(len(data), cfg.seed, index, self._pos.epoch)
            batches = micro_batches(len(data), cfg.batch_size, perm)
            while self._pos.step_in_epoch < per_epoch:
                if continuous:
                    step = self._pos.epoch * per_epoch + self._pos.step_in_epoch
                    slots = continuous_slots(
                        len(data),
                        cfg.batch_size,
                        cfg.seed,
                        index,
                        step,
                        cfg.grad_accum,
                        world,
                        rank,
                    )
                else:
                    slots = step_slots(
                        batches, self._pos.step_in_epoch, cfg.grad_accum, world, rank
                    )
                loss_value, penalty_value = self._train_step(
                    ctx, wrapped, data, collate, slots, batches
                )
                finite = math.isfinite(loss_value) and math.isfinite(penalty_value)
                applied = self._optimizer_step(optimizer, scheduler, params, finite)
                self._pos.step_in_epoch += 1
                self._pos.task_step += 1
                self._pos.global_step += 1
                method.after_optimizer_step(
                    self.model, StepInfo(applied, self._pos.task_step, self._pos.global_step)
                )
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss_value)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}")
                self._log_step(loss_value, penalty_value, scheduler, applied)
                if cfg.checkpoint_every and self._pos.global_step % cfg.checkpoint_every == 0:
                    self._save_checkpoint(result, optimizer, scheduler)
                    self._maybe_kill()
            self._pos.epoch += 1
            self._pos.step_in_epoch = 0
            if cfg.eval_every_epoch and self.evaluate is not None:
                self._eval_epoch(result, index, self._pos.epoch)
        bar.close()
        method.on_task_end(ctx, self.model)
        if self.is_main:
            method.export_task(
                ctx, self.model, self.output_dir / "tasks" / f"{index:02d}_{task.name}"
            )
        acc._optimizers = [o for o in acc._optimizers if o is not optimizer]
        self._pos.epoch = self._pos.step_in_epoch = self._pos.task_step = 0
        return {
            "task": task.name,
            "steps": total,
            "epochs": epochs,
            "lr": lr,
            "examples": len(data),
            "mean_loss": float(sum(losses) / len(losses)) if losses else None,
            "seconds": round(time.time() - started, 2),
        }

    def _train_step(self, ctx, wrapped, data, collate, slots, batches) -> tuple[float, float]:
        """Forward and backward over one step's micro-batches; returns (loss, penalty) values."""
        cfg, acc, method = self.config, self.accelerator, self.method
        if acc.num_processes == 1:
            slots = [s for s in slots if s is not None]
        loss_total, penalty_value = 0.0, 0.0
        for k, idx in enumerate(slots):
            last = k == len(slots) - 1
            empty = idx is None
            rows = [data[i] for i in (batches[0] if empty else idx)]
            batch = self._to_device(collate(method.batch_examples(ctx, rows)))
            sync = contextlib.nullcontext()
            if acc.num_processes > 1 and not last:
                sync = wrapped.no_sync()
            with sync:
                loss, outputs = self._compute_loss(batch)
                extra = method.loss(batch, outputs, self.model)
                if extra is not None:
                    loss = loss + extra
                loss = loss / cfg.grad_accum
                if empty:
                    loss = loss * 0.0
                else:
                    loss_total += float(loss.detach())
                if last:
                    penalty = method.penalty(self.model)
                    if penalty is not None:
                        penalty_value = float(penalty.detach())
                        loss = loss + penalty
                acc.backward(loss)
        return loss_total, penalty_value

    def _optimizer_step(
        self, optimizer, scheduler, params: list[nn.Parameter], loss_finite: bool
    ) -> bool:
        """Clip, step and schedule; skip the step when the loss or a gradient is non-finite
        (on any process: the decision is shared so that every process skips together)."""
        cfg, acc = self.config, self.accelerator
        self.method.after_backward(self.model)
        fp16 = acc.mixed_precision == "fp16"
        bad = not loss_finite or (not fp16 and not _grads_finite(params))
        if acc.num_processes > 1:
            flag = torch.tensor([float(bad)], device=acc.device)
            bad = bool(acc.reduce(flag, reduction="sum").item() > 0)
        if bad:
            self._consecutive_nonfinite += 1
            self._skipped_steps += 1
            if self._consecutive_nonfinite >= cfg.max_consecutive_nonfinite:
                raise FloatingPointError(
                    f"{self._consecutive_nonfinite} optimizer steps in a row had non-finite "
                    f"gradients (task {self._pos.task}, step {self._pos.task_step}); aborting"
                )
            return False
        self._consecutive_nonfinite = 0
        if cfg.max_grad_norm > 0:
            acc.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        applied = not acc.optimizer_step_was_skipped
        if applied:
            scheduler.step()
        else:
            self._skipped_steps += 1
        return applied

    def _log_step(self, loss: float, penalty: float, scheduler, applied: bool) -> None:
        cfg = self.config
        if self._pos.global_step % max(cfg.log_every, 1) != 0:
            return
        record = {
            "train/loss": loss,
            "train/penalty": penalty,
            "train/lr": scheduler.get_last_lr()[0],
            "train/applied": float(applied),
        }
        self.accelerator.log(record, step=self._pos.global_step)
        if self.is_main:
            line = {"step": self._pos.global_step, "task": self._pos.task, **record}
            with open(self.output_dir / "train_log.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")

    def _eval_epoch(self, result: ContinualResult, index: int, epoch: int) -> None:
        """Per-epoch evaluation of the seen tasks (all with eval_future): score and extras."""
        tasks = self._tasks_for_eval
        cols = range(len(tasks)) if self.config.eval_future else range(index + 1)
        scores = {}
        for j in cols:
            score = self._evaluate(tasks[j])
            scores[tasks[j].name] = {"score": score.score, **score.extra}
        result.epoch_scores.append({"task": index, "epoch": epoch, "scores": scores})

    def _maybe_kill(self) -> None:
        target = os.environ.get(KILL_ENV)
        if target and self._pos.global_step >= int(target):
            os.kill(os.getpid(), signal.SIGKILL)


def _begin_model_task(model: nn.Module, index: int) -> None:
    """Tell a task-aware model (per-task heads, cl_methods.classic) which task starts; it then
    knows the seen tasks for its logits. Models without ``begin_task`` are left alone."""
    begin = getattr(model, "begin_task", None)
    if callable(begin):
        begin(index)


def _grads_finite(params: list[nn.Parameter]) -> bool:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())


def _flat_config(cfg: TrainerConfig, method: Method) -> dict[str, Any]:
    flat: dict[str, Any] = {"method": method.name}
    for prefix, values in (("trainer", cfg.to_dict()), ("method", method.config.to_dict())):
        for key, value in values.items():
            if isinstance(value, (int, float, str, bool)):
                flat[f"{prefix}.{key}"] = value
            elif value is not None:
                flat[f"{prefix}.{key}"] = str(value)
    return flat
