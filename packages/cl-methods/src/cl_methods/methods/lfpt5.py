"""LFPT5, decoder-only port (spec classic-methods.md §2.8): prompt tuning + LAMOL pseudo data.

- A frozen causal LM wrapped in a :class:`~cl_methods.classic.task_prompts.PromptTunedLM` with
  a 10-token prompt initialised from the data family's text (spec 3.3); CIL/IIL share ONE prompt,
  TIL has one per task (old ones frozen).
- LAMOL-format data (:mod:`cl_methods.generative_replay`, shared with the LAMOL family): QA
  ``x __ans__ " y" eos`` and GEN ``__<t>__ x __ans__ " y" eos`` with one generation token per
  task. DECISION (spec): the input and output embedding rows of these special tokens train too,
  through gradient masking (every other row's gradient is zeroed after backward and the matrices
  have weight decay 0, so those rows stay bit-identical); otherwise a frozen model cannot learn
  to emit ``__ans__``.
- Loss: ``L_QA + lambda L_GEN`` (token means), DECISION lambda = 0.25 as in the official LFPT5
  scripts (the reference's 0 yields no parseable pseudo samples, hence its ~0% results).
- Task t > 0 (CIL/IIL): before training, ``floor(0.2 |D_t|)`` pseudo samples, ``floor(N / t)``
  per old task j, sampled from ``__<j>__`` through the model with task j's prompt (top-k 20,
  temperature 1, batched ``generate``, seeded, progress bar), parsed (exactly one ``__ans__``),
  marked ``is_pseudo``, mixed into D_t and shuffled; they get the hard loss like real rows.
  Teacher = a frozen copy of the model at the task's start; pseudo rows add ``0.01 * KD_QA`` at
  T = 1: ``T^2 mean_{i in P} KL(softmax(z_T/T) || softmax(z_S/T))`` over
  ``P = {i : label[i+1] != -100}`` of the QA sequences (the virtual-token positions are stripped
  from the logits first). TIL disables pseudo data and KD by default (old prompts are frozen).
  The pseudo rows of a task are saved in the method's state, so a resumed run trains on the same
  rows without regenerating them.

The spec's lr is 1e-3 (the trainer's ``lr``). An app batches rows with
``method.collator(max_length)``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..adapters.inject import unwrap_model
from ..classic.progressive_prompts import ProgressivePromptView
from ..classic.prompt_init import run_prompt_init_ids
from ..classic.task_prompts import PromptTunedLM
from ..generative_replay import (
    LamolCollator,
    LamolTokens,
    PseudoStats,
    Sampling,
    embedding_matrices,
    generate_samples,
    install_tokens,
    kd_loss,
    lamol_parser,
    qa_gen_logits,
    resize_with_mean,
    split_counts,
)
from ..method import Method, MethodConfig, RunInfo, TaskContext
from ..registry import register_method
from ..teacher import Teacher
from .lamol import LamolOutputs, lamol_loss


@dataclass
class LFPT5Config(MethodConfig):
    num_virtual_tokens: int = field(default=10, metadata={"help": "prompt length (spec 10)"})
    prompt_init_ids: tuple[int, ...] = field(
        default=(), metadata={"help": "token ids initialising the prompt; empty: the family's text"}
    )
    gen_weight: float = field(
        default=0.25, metadata={"help": "lambda of L_GEN (spec DECISION 0.25; reference 0)"}
    )
    kd_weight: float = field(default=0.01, metadata={"help": "weight of KD_QA on pseudo rows"})
    kd_temperature: float = field(
        default=1.0, metadata={"help": "KD temperature (spec 1)", "gt": 0}
    )
    pseudo_ratio: float = field(
        default=0.2, metadata={"help": "pseudo samples per task = floor(ratio * |D_t|)"}
    )
    top_k: int = field(default=20, metadata={"help": "top-k of pseudo-sample sampling"})
    gen_batch_size: int = field(default=8, metadata={"help": "pseudo samples per generate call"})
    pseudo: bool | None = field(
        default=None, metadata={"help": "pseudo data + KD for t>0; null: on unless TIL"}
    )
    train_special_tokens: bool = field(
        default=True, metadata={"help": "train the __ans__/__<t>__ embedding rows (DECISION)"}
    )
    il_mode: Literal["CIL", "TIL", "IIL"] | None = field(
        default=None, metadata={"help": "CIL/IIL: one shared prompt; TIL: one per task"}
    )
    num_tasks: int = field(default=0, metadata={"help": "0: the run's number of tasks"})


@register_method("lfpt5")
class LFPT5(Method):
    config_class = LFPT5Config
    config: LFPT5Config

    def __init__(self, config: LFPT5Config | None = None) -> None:
        super().__init__(config)
        self.tokens: LamolTokens | None = None
        self.teacher = Teacher()
        self.task_names: list[str] = []
        self.current = 0
        self.max_length = 128
        self.pseudo_rows: dict[str, list[dict[str, Any]]] = {}
        self.pseudo_stats: dict[str, dict[str, Any]] = {}
        self._lm: PromptTunedLM | None = None

    # -- the run --------------------------------------------------------------------------------
    def bind_run(self, run: RunInfo) -> None:
        super().bind_run(run)
        if run.tokenizer is None:
            raise ValueError("lfpt5 needs the run's tokenizer (RunInfo.tokenizer) for its tokens")
        cfg, updates = self.config, {}
        if not cfg.num_tasks:
            updates["num_tasks"] = run.num_tasks
        if cfg.il_mode is None:
            updates["il_mode"] = run.scenario or "CIL"
        if not cfg.prompt_init_ids:
            ids = run_prompt_init_ids(run)
            if ids:
                updates["prompt_init_ids"] = ids
        if updates:
            self.config = dataclasses.replace(cfg, **updates)
        self.tokens = install_tokens(run.tokenizer, self.config.num_tasks, per_task=True)

    @property
    def til(self) -> bool:
        return self.config.il_mode == "TIL"

    @property
    def use_pseudo(self) -> bool:
        return (not self.til) if self.config.pseudo is None else bool(self.config.pseudo)

    def collator(self, max_length: int | None = None) -> LamolCollator:
        """Batches in LAMOL's format: training rows (QA + GEN) and evaluation prompts."""
        if self.tokens is None or self.run is None:
            raise ValueError("lfpt5: bind_run(RunInfo with a tokenizer) before collator()")
        if max_length is not None:
            self.max_length = int(max_length)
        return LamolCollator(self.run.tokenizer, self.tokens, self.max_length)

    def prepare(self, model: nn.Module) -> nn.Module:
        if self.tokens is None or self.run is None:
            raise ValueError("lfpt5: bind_run(RunInfo with a tokenizer) before prepare()")
        inner = unwrap_model(model)
        if isinstance(inner, PromptTunedLM):
            self._lm = inner
            return inner
        if not hasattr(inner, "generate"):
            raise ValueError(
                "lfpt5 needs a causal LM with generate() (backbone.kind causal_lm, "
                f"backbone.head none), got {type(inner).__name__}"
            )
        resize_with_mean(inner, len(self.run.tokenizer), self.tokens.all_ids)
        inner.requires_grad_(False)
        lm = PromptTunedLM(inner)
        cfg = self.config
        count = cfg.num_tasks if self.til else 1
        lm.add_task_prompts(count, cfg.num_virtual_tokens, list(cfg.prompt_init_ids))
        lm.prompts.to(inner.get_input_embeddings().weight.device)
        self._lm = lm
        return lm

    def _host(self) -> PromptTunedLM:
        if self._lm is None:
            raise ValueError("lfpt5: call prepare(model) before the first task")
        return self._lm

    def _prompt_of(self, task: int) -> int:
        return task if self.til else 0

    # -- task boundaries ------------------------------------------------------------------------
    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        t = task.index
        real = [{**row, "gen_task": t, "is_pseudo": False} for row in data]
        if t == 0 or not self.use_pseudo:
            return real
        if str(t) not in self.pseudo_rows:  # a resumed run reuses the saved rows
            self.pseudo_rows[str(t)] = self._generate(task, len(data))
        columns = {k: None for row in data[:1] for k in row}
        pseudo = [{**columns, **row} for row in self.pseudo_rows[str(t)]]
        rows = real + pseudo
        random.Random(task.seed * 1_000_003 + t).shuffle(rows)
        return rows

    def _generate(self, task: TaskContext, size: int) -> list[dict[str, Any]]:
        """``floor(N / t)`` samples of each old task j from ``__<j>__``, generated through the
        model with task j's prompt (:class:`ProgressivePromptView`); the seed of old task j is
        ``seed * 10007 + t * 101 + j`` (LFPT5's own, kept so that its runs stay as they were)."""
        lm, t, cfg, tokens = self._host(), task.index, self.config, self.tokens
        eos = int(self.run.tokenizer.eos_token_id)
        parse = lamol_parser(self.run.tokenizer, tokens.ans_id, eos)
        sampling = Sampling(top_k=cfg.top_k, batch_size=cfg.gen_batch_size)
        rows, total = [], PseudoStats()
        for j, count in enumerate(split_counts(int(cfg.pseudo_ratio * size), t)):
            pairs, stats = generate_samples(
                ProgressivePromptView(lm, self._prompt_of(j)), [tokens.gen_id(j)], count, parse,
                max_length=self.max_length, eos_id=eos, sampling=sampling,
                seed=task.seed * 10_007 + t * 101 + j, desc=f"pseudo samples of task {j}",
                progress=task.progress,
            )  # fmt: skip
            rows += [{"input": x, "target": y, "gen_task": j, "is_pseudo": True} for x, y in pairs]
            total = total + stats
        self.pseudo_stats[str(t)] = total.to_dict()
        if task.progress:
            print(
                f"lfpt5 task {t}: kept {total.kept}/{total.requested} pseudo samples (discarded "
                f"{total.discarded}, no eos {total.truncated}) in {total.seconds:.1f}s",
                flush=True,
            )
        return rows

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        self._start(task, model)
        if task.index > 0 and self.use_pseudo:
            self.teacher.snapshot(model, task.index)
        else:
            self.teacher.clear()

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        self._start(task, model)
        if task.index > 0 and self.use_pseudo and not self.teacher.restore(model, task.index):
            self.teacher.snapshot(model, task.index)

    def _start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        lm, t = self._host(), task.index
        if t < len(self.task_names):
            self.task_names[t] = task.name
        else:
            self.task_names.append(task.name)
        self.current = t
        lm.requires_grad_(False)
        lm.active_prompt = self._prompt_of(t)
        lm.prompts[lm.active_prompt].requires_grad_(True)
        if self.config.train_special_tokens:
            for weight in embedding_matrices(lm.lm):
                weight.requires_grad_(True)

    def configure_optimizer(self, params, default):
        tables = {id(w) for w in embedding_matrices(self._host().lm)}
        optimizer = default([p for p in params if id(p) not in tables])
        rows = [p for p in params if id(p) in tables]
        if rows:  # weight decay 0: the masked rows must not move at all
            optimizer.add_param_group({"params": rows, "weight_decay": 0.0})
        return optimizer

    # -- per step -------------------------------------------------------------------------------
    def forward_loss(self, batch: dict[str, Any], model: nn.Module):
        """QA and GEN sequences in one forward pass: ``L_QA + gen_weight * L_GEN``."""
        out = LamolOutputs(*qa_gen_logits(model, batch))
        return lamol_loss(out, batch, self.config.gen_weight), out

    def loss(self, batch: dict[str, Any], outputs: Any, model: nn.Module):
        """``kd_weight * KD_QA`` on the pseudo rows against the task-start teacher."""
        if not self.teacher or not isinstance(outputs, LamolOutputs):
            return None
        rows = batch["is_pseudo"].bool()
        if not rows.any():
            return None
        keys = ("input_ids", "attention_mask", "position_ids")
        teacher = self.teacher.logits({k: batch[k][rows] for k in keys})
        kd = kd_loss(
            outputs.qa_logits[rows], teacher, batch["labels"][rows], self.config.kd_temperature
        )
        return self.config.kd_weight * kd

    def after_backward(self, model: nn.Module) -> None:
        """Zero the gradient of every embedding row but the special tokens'."""
        if not self.config.train_special_tokens:
            return
        keep = torch.tensor(self.tokens.all_ids)
        for weight in embedding_matrices(self._host().lm):
            if weight.grad is not None:
                mask = torch.zeros(weight.shape[0], dtype=torch.bool, device=weight.device)
                mask[keep.to(weight.device)] = True
                weight.grad[~mask] = 0.0

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        self.teacher.clear()

    def eval_model(self, model: nn.Module, task_name: str | None = None) -> nn.Module:
        j = self.task_names.index(task_name) if task_name in self.task_names else self.current
        return ProgressivePromptView(self._host(), self._prompt_of(j))

    # -- checkpointing --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "task_names": list(self.task_names),
            "current": self.current,
            "pseudo_rows": {k: list(v) for k, v in self.pseudo_rows.items()},
            "pseudo_stats": dict(self.pseudo_stats),
            "teacher": self.teacher.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.task_names = list(state.get("task_names", []))
        self.current = int(state.get("current", 0))
        self.pseudo_rows = {str(k): list(v) for k, v in state.get("pseudo_rows", {}).items()}
        self.pseudo_stats = dict(state.get("pseudo_stats", {}))
        self.teacher.load_state_dict(state.get("teacher", {}))
