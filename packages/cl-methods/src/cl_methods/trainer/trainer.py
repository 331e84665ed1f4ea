"""The continual trainer: one task after another, one method's hooks, one accuracy matrix.

Built on ``accelerate`` (device placement, autocast, loss scaling, DDP, trackers) through its
public API, so the same code runs on a CPU, one GPU, or several processes under ``accelerate
launch``. Gradient accumulation is explicit (:mod:`.schedule`) rather than ``accumulate()``:
parameter-only penalties are added once per optimizer step, a task's last step may be short,
and a run resumes at any step. Checkpoints: :mod:`.checkpoint`; results, predictions and the
step log: :mod:`.outputs`; supported distributed modes: :mod:`.distributed`; callbacks:
:mod:`.callbacks`. The method contract: :mod:`cl_methods.method`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import nn
from tqdm.auto import tqdm

from ..method import Method, RunInfo, StepInfo, TaskAwareModel, TaskContext
from .callbacks import TrainerCallback, TrainerView
from .checkpoint import Checkpointer, DivergedError, Position
from .config import TrainerConfig
from .distributed import check_supported, make_accelerator, prepare_task, release_task
from .optim import default_optimizer, grads_finite, task_scheduler
from .outputs import RunOutputs, tracker_config
from .results import ContinualResult
from .schedule import TaskSchedule
from .scoring import Scorer
from .tasks import MODEL_INPUT_KEYS, Evaluate, TrainTask
from .untrained import untrained_task

log = logging.getLogger(__name__)


class ContinualTrainer:
    """Train ``method`` on a stream of tasks and evaluate after each task.

    ``evaluate(model, task, accelerator)`` returns a :class:`TaskScore` (or a number) for one task;
    it is called on every process (shard the work and gather inside, as
    :class:`cl_methods.evaluation.GenerationEvaluator` does). ``callbacks`` watch the run.
    """

    def __init__(
        self,
        model: nn.Module,
        method: Method,
        config: TrainerConfig,
        evaluate: Evaluate | None = None,
        collate: Callable[[list[Any]], dict[str, Any]] | None = None,
        accelerator: Accelerator | None = None,
        callbacks: Sequence[TrainerCallback] = (),
    ) -> None:
        self.config, self.method, self.model = config, method, model
        self.evaluate, self.collate, self.callbacks = evaluate, collate, list(callbacks)
        self.output_dir = Path(config.output_dir)
        self.accelerator = accelerator or make_accelerator(config, self.output_dir)
        check_supported(self.accelerator)
        self.outputs = RunOutputs(self.output_dir, self.accelerator.is_main_process)
        self.scorer = Scorer(evaluate, method, self.accelerator, self.outputs)
        self.checkpoints = Checkpointer(self.output_dir / "checkpoints", self.accelerator, config)
        self.pos = Position()
        self._train_model: nn.Module = model
        self._tasks: list[Any] = []
        self._task_name: str | None = None
        self._num_tasks = 0

    @property
    def skipped_steps(self) -> int:
        """Optimizer steps skipped so far (non-finite gradients, fp16 scale-down)."""
        return self.checkpoints.skipped_steps

    # ------------------------------------------------------------------ the run
    def fit(self, tasks: Iterable[Any], resume: bool = False) -> ContinualResult:
        cfg, acc, method = self.config, self.accelerator, self.method
        tasks = list(tasks)
        names = [t.name for t in tasks]
        if not tasks or len(set(names)) != len(names):
            raise ValueError(f"the task stream is empty or its names are not unique: {names}")
        train_tasks = [self._joint_task(tasks)] if method.joint_training else tasks
        self._tasks, self._num_tasks = tasks, len(train_tasks)
        if method.run is None:
            method.bind_run(RunInfo(num_tasks=len(tasks), task_names=tuple(names)))
        elif list(method.run.task_names) != names:
            raise ValueError(f"method bound to tasks {method.run.task_names}, fit got {names}")

        set_seed(cfg.seed)
        self.model = self._train_model = method.prepare(self.model)
        self.model.to(acc.device)
        self.model.train()
        result = ContinualResult.empty(names, rows=len(train_tasks))
        self.pos, saved = Position(), None
        if resume:
            saved, result = self.checkpoints.resume(self, names, result)
            self.outputs.trim_after(self.pos.global_step)  # steps after it are logged again
        settings = (cfg.to_dict(), method.name, method.config.to_dict())
        self.outputs.write_config(*settings, names)
        acc.init_trackers("continual", config=tracker_config(*settings))
        self._notify("on_run_start")

        if cfg.eval_before_training and not self.pos.baseline_done:
            self.scorer.scores(result, self.model, tasks, task=-1, epoch=0)
            self.pos.baseline_done = True

        first = self.pos.task + (1 if self.pos.status == "task_done" else 0)
        for index in range(first, len(train_tasks)):
            mid_task = saved if self.pos.status == "in_task" else None
            result.train_stats.append(self._run_task(index, train_tasks[index], result, mid_task))
            saved = None
            cols = (
                range(len(tasks)) if cfg.eval_future or method.joint_training else range(index + 1)
            )
            self.scorer.row(result, self.model, tasks, index, cols, self.pos.global_step)
            self.pos.status = "task_done"
            self._save_checkpoint(result, kept=method.optimizer)
            self.outputs.write_results(result)
            if acc.is_main_process:
                log.info("after task %d (%s):\n%s", index, self._task_name, result.format_matrix())
            self._notify("on_task_end")
        acc.end_training()
        self.outputs.write_results(result)
        self._notify("on_run_end")
        return result

    def _run_task(self, index: int, task: Any, result: ContinualResult, saved) -> dict[str, Any]:
        """Train task ``index`` (from the start, or from the mid-task checkpoint ``saved``)."""
        cfg, acc, method = self.config, self.accelerator, self.method
        over = dict(getattr(task, "params", None) or {})
        lr = float(over.get("lr", cfg.lr))
        epochs = int(over.get("epochs", cfg.epochs)) + method.extra_epochs(index)
        ctx = self._context(index, task, epochs)
        data = list(method.task_train_data(ctx, task.train))
        if ctx.collate is None:
            raise ValueError(f"task {task.name!r} has no collate function and the trainer has none")
        schedule = TaskSchedule(
            len(data), cfg.batch_size, cfg.grad_accum, acc.num_processes, acc.process_index,
            cfg.seed, index, continuous=cfg.step_schedule == "continuous",
        )  # fmt: skip
        ctx.steps_per_epoch, ctx.total_steps = schedule.per_epoch, schedule.per_epoch * epochs
        self._task_name = task.name

        if isinstance(self.model, TaskAwareModel):
            # joint training (MTL) trains every task at once: every head is in play
            self.model.begin_task(len(self._tasks) - 1 if method.joint_training else index)
        if saved is not None:
            method.on_task_resume(ctx, self.model)
            self.checkpoints.restore_model(saved, self.model)
        else:
            method.on_task_start(ctx, self.model)
            self.pos = dataclasses.replace(
                Position(), task=index, status="in_task", global_step=self.pos.global_step,
                baseline_done=self.pos.baseline_done,
            )  # fmt: skip
        if not method.trains:  # ICL: the task hooks only, no optimizer and no step
            return untrained_task(self, ctx, task, lr)
        params = method.trainable_parameters(self.model)
        if not params:
            raise ValueError(f"method {method.name!r} leaves no trainable parameter in {task.name}")
        self.checkpoints.touched |= {n for n, p in self.model.named_parameters() if p.requires_grad}
        optimizer = method.task_optimizer(ctx, params, default_optimizer(cfg, self.model, lr))
        if saved is not None:
            self.checkpoints.restore_optimizer(saved, "optimizer", optimizer, self.model)
        scheduler = task_scheduler(cfg, optimizer, ctx.total_steps)
        if saved is not None:
            self.checkpoints.restore_scheduler(saved, scheduler)
        self._train_model, prepared = prepare_task(acc, self.model, optimizer)
        if saved is not None:
            self.checkpoints.restore_rng(saved)
        self.model.train()
        self._notify("on_task_start")

        bar = tqdm(
            total=ctx.total_steps,
            initial=self.pos.task_step,
            desc=f"task {index + 1}/{self._num_tasks} {task.name}",
            disable=not (cfg.progress and acc.is_local_main_process),
            dynamic_ncols=True,
        )
        started = time.time()
        while self.pos.epoch < epochs:
            while self.pos.step_in_epoch < schedule.per_epoch:
                slots = schedule.slots(self.pos.epoch, self.pos.step_in_epoch)
                filler = schedule.epoch_batches(self.pos.epoch)[0]
                loss, penalty = self._forward_backward(ctx, data, slots, filler)
                applied = self._optimizer_step(prepared, scheduler, params, loss, penalty)
                self.pos.advance(loss)
                step = StepInfo(applied, self.pos.task_step, self.pos.global_step)
                method.after_optimizer_step(self.model, step)
                prepared.zero_grad(set_to_none=True)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if self.pos.global_step % max(cfg.log_every, 1) == 0:
                    lr_now = scheduler.get_last_lr()[0]
                    record = {"train/loss": loss, "train/penalty": penalty, "train/lr": lr_now}
                    record |= {"train/applied": float(applied), "task": index,
                               "train/skipped": self.pos.task_skipped}  # fmt: skip
                    acc.log(record, step=self.pos.global_step)
                if cfg.checkpoint_every and self.pos.global_step % cfg.checkpoint_every == 0:
                    self._save_checkpoint(result, optimizer, scheduler)
                self._notify("on_step_end", applied=applied, loss=loss)
            self.pos.epoch += 1
            self.pos.step_in_epoch = 0
            if cfg.eval_every_epoch:
                seen = self._tasks if cfg.eval_future else self._tasks[: index + 1]
                self.scorer.scores(result, self.model, seen, index, self.pos.epoch)
        bar.close()
        method.on_task_end(ctx, self.model)
        if acc.is_main_process:
            method.export_task(ctx, self.model, self.outputs.task_folder(index, task.name))
        release_task(acc)
        self._train_model = self.model
        skipped, mean_loss = self.pos.end_task(task.name, ctx.total_steps, acc.is_main_process)
        return {"task": task.name, "steps": ctx.total_steps, "epochs": epochs, "lr": lr,
                "examples": len(data), "mean_loss": mean_loss, "skipped_steps": skipped,
                "seconds": round(time.time() - started, 2)}  # fmt: skip

    # ------------------------------------------------------------------ one optimizer step
    def _forward_backward(self, ctx: TaskContext, data, slots, filler) -> tuple[float, float]:
        """Forward and backward over one step's micro-batches; returns (loss, penalty) values.
        An empty slot (the epoch ran out on this process) is a zero-weight pass over ``filler``
        so that every process joins the gradient all-reduce."""
        cfg, acc, method = self.config, self.accelerator, self.method
        if acc.num_processes == 1:
            slots = [s for s in slots if s is not None]
        loss_total, penalty_value = 0.0, 0.0
        for k, idx in enumerate(slots):
            last, empty = k == len(slots) - 1, idx is None
            rows = [data[i] for i in (filler if empty else idx)]
            batch = ctx.collate(method.batch_examples(ctx, rows))
            batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            sync = acc.num_processes > 1 and not last
            with acc.no_sync(self._train_model) if sync else contextlib.nullcontext():
                loss, outputs = self._compute_loss(batch)
                extra = method.loss(batch, outputs, self.model)
                loss = (loss if extra is None else loss + extra) / cfg.grad_accum
                if empty:
                    loss = loss * 0.0
                else:
                    loss_total += float(loss.detach())
                if last and (penalty := method.penalty(self.model)) is not None:
                    penalty_value = float(penalty.detach())
                    loss = loss + penalty
                acc.backward(loss)
        return loss_total, penalty_value

    def _optimizer_step(self, optimizer, scheduler, params, loss: float, penalty: float) -> bool:
        """Clip, step and schedule; skip the step when the loss or a gradient is non-finite
        (on any process: the decision is shared so that every process skips together)."""
        cfg, acc, ckpt = self.config, self.accelerator, self.checkpoints
        self.method.after_backward(self.model)
        bad = not (math.isfinite(loss) and math.isfinite(penalty))
        if acc.mixed_precision != "fp16":  # fp16: the loss scaler finds and skips bad steps
            bad = bad or not grads_finite(params)
        if acc.num_processes > 1:
            flag = torch.tensor([float(bad)], device=acc.device)
            bad = bool(acc.reduce(flag, reduction="sum").item() > 0)
        if bad:
            ckpt.consecutive_nonfinite += 1
            ckpt.skipped_steps += 1
            self.pos.task_skipped += 1
            limit = cfg.max_consecutive_nonfinite
            if limit and ckpt.consecutive_nonfinite >= limit:
                raise DivergedError(
                    f"training diverged: {ckpt.consecutive_nonfinite} optimizer steps in a row "
                    f"had a non-finite loss or gradient (task {self.pos.task} "
                    f"{self._task_name!r}, step {self.pos.task_step + 1}; "
                    f"{self.pos.task_skipped} skipped in this task); lower the learning rate, "
                    f"or raise max_consecutive_nonfinite"
                )
            return False
        ckpt.consecutive_nonfinite = 0
        if cfg.max_grad_norm > 0:
            acc.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        if acc.optimizer_step_was_skipped:
            ckpt.skipped_steps += 1
            self.pos.task_skipped += 1
            return False
        scheduler.step()
        return True

    # ------------------------------------------------------------------ helpers
    def _context(self, index: int, task: Any, epochs: int) -> TaskContext:
        cfg, acc = self.config, self.accelerator
        return TaskContext(
            index=index,
            name=task.name,
            train_data=task.train,
            collate=getattr(task, "collate", None) or self.collate,
            params=dict(getattr(task, "params", None) or {}),
            num_tasks=self._num_tasks,
            epochs=epochs,
            batch_size=cfg.batch_size,
            grad_accum=cfg.grad_accum,
            world_size=acc.num_processes,
            rank=acc.process_index,
            device=acc.device,
            precision=acc.mixed_precision,
            seed=cfg.seed,
            progress=cfg.progress and acc.is_local_main_process,
            compute_loss=self._compute_loss,
            backward=acc.backward,
            autocast=acc.autocast,
            grad_scaler=acc.scaler,
        )

    def _compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        """Task loss of one (collated, on-device) batch through the training module, under
        autocast; the method's ``forward_loss`` replaces the model's own loss."""
        with self.accelerator.autocast():
            custom = self.method.forward_loss(batch, self._train_model)
            if custom is not None:
                return custom
            outputs = self._train_model(**{k: v for k, v in batch.items() if k in MODEL_INPUT_KEYS})
        if getattr(outputs, "loss", None) is None:
            raise ValueError(
                "the model returned no loss: batches need `labels`, or the method must "
                "implement forward_loss"
            )
        return outputs.loss, outputs

    def _joint_task(self, tasks: list[Any]) -> TrainTask:
        data = [row for t in tasks for row in t.train]
        collate = getattr(tasks[0], "collate", None)
        return TrainTask(name="joint", train=data, collate=collate, params=dict(tasks[0].params))

    def _save_checkpoint(self, result, optimizer=None, scheduler=None, kept=None) -> None:
        def staged(folder: Path) -> None:
            self._notify("on_checkpoint_staged", checkpoint=folder)

        folder = self.checkpoints.save(self, result, optimizer, scheduler, kept, staged)
        self._notify("on_checkpoint_saved", checkpoint=folder)

    def view(self, **extra: Any) -> TrainerView:
        """A read-only view of where the run stands (what callbacks receive)."""
        acc = self.accelerator
        return TrainerView(
            **dataclasses.asdict(self.pos),
            task_name=self._task_name,
            num_tasks=self._num_tasks,
            rank=acc.process_index,
            world_size=acc.num_processes,
            output_dir=self.output_dir,
            **extra,
        )

    def _notify(self, hook: str, **extra: Any) -> None:
        if self.callbacks:
            view = self.view(**extra)
            for callback in self.callbacks:
                getattr(callback, hook)(view)
