"""PCLL (spec classic-methods.md 2.7): prompt-conditioned VAE generative replay.

The model learns, per real row, ``L_LM = L_QA(d) + 0.5 L_GEN(d)`` and
``L_VAE = L_rec + 0.01 beta KL(q || p)``: q = the posterior from the pooled last hidden states of
(b) ``p " x" eos``, p = the prior from those of (a) ``p eos``; a reparameterised z ~ q gives
``0.1 MLP(z)``, added to every input embedding of (b) for the reconstruction loss on ``" x" eos``.
Real loss = ``L_LM + w_vae L_VAE`` (DECISION of the spec: w_vae = 1; the reference default 0
left the VAE untrained). beta rises linearly 0 -> 1 over the first 90% of each task's steps.

For t>0: a frozen teacher = the model at the task's start; ``floor(0.2 |D_t|)`` pseudo samples
split over the old tasks, sampled from the prompt p with top-k 20 / top-p 0.95 and parsed on a
single ``"? Answer:`` (DECISION of the spec: a prior draw z is injected into every input embedding
during generation through a forward hook; the reference omitted z). Each real micro-batch is
paired with as many pseudo rows (a cycled stream, reshuffled each pass by (seed, task, pass)),
which get the same losses plus KD at T = 1 on the QA, GEN and reconstruction positions.

The VAE modules are a submodule ``pcll_vae`` of the backbone (so they train, checkpoint and are
copied into the teacher with it). Scenarios: CIL and IIL (DECISION: TIL's per-task prompt
``In the {j}-th task`` would need the task id at evaluation, which a generation evaluator does not
pass; refused with that reason).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from ..adapters.inject import unwrap_model
from ..generative_replay import kd_loss, lm_loss, sample_seed
from ..generative_replay.pcll import (
    ANSWER_SPLIT,
    PCLLVAE,
    PCLLCollator,
    beta_schedule,
    gaussian_kl,
    sample_z,
)
from ..generative_replay.pseudo import (
    Sampling,
    cut_at_eos,
    generate_samples,
    split_counts,
    split_text_once,
)
from ..method import Method, MethodConfig, RunInfo, StepInfo, TaskContext
from ..registry import register_method
from ..teacher import Teacher

log = logging.getLogger(__name__)


def _h(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class PCLLConfig(MethodConfig):
    w_vae: float = field(default=1.0, metadata=_h("weight of L_VAE (spec DECISION: 1)"))
    gen_weight: float = field(default=0.5, metadata=_h("weight of L_GEN in L_LM"))
    kl_weight: float = field(default=0.01, metadata=_h("factor of beta KL(q||p) in L_VAE"))
    beta_ratio: float = field(default=0.9, metadata=_h("share of a task's steps beta ramps over"))
    alpha_z: float = field(default=0.1, metadata=_h("scale of MLP(z) added to the embeddings"))
    kd_temperature: float = field(default=1.0, metadata=_h("KD temperature on pseudo rows"))
    pcll_gamma: float = field(default=0.2, metadata=_h("pseudo samples: floor(gamma |D_t|)"))
    gen_top_k: int = field(default=20, metadata=_h("top-k of pseudo-sample sampling"))
    gen_top_p: float = field(default=0.95, metadata=_h("top-p of pseudo-sample sampling"))
    gen_batch_size: int = field(default=8, metadata=_h("rows per model.generate call"))
    max_length: int | None = field(
        default=None, metadata=_h("sequence length (null: the app's backbone.max_length)")
    )
    optimizer_scope: Literal["task", "carry", "run"] = field(
        default="run", metadata=_h("run: one AdamW for the run (the codebase)")
    )


@dataclass
class PCLLOutputs:
    logits: torch.Tensor  # of (d)


@register_method("pcll")
class PCLL(Method):
    config_class = PCLLConfig
    config: PCLLConfig

    def __init__(self, config: PCLLConfig | None = None) -> None:
        super().__init__(config)
        self.optimizer_scope = self.config.optimizer_scope
        self.teacher = Teacher()
        self.tokenizer: Any = None
        self.model: nn.Module | None = None
        self.max_length = self.config.max_length
        self.step = 0  # optimizer steps taken in the task (beta)
        self.pseudo_task: int | None = None
        self.pseudo_rows: list[dict[str, Any]] = []
        self.cursor = 0  # pseudo rows handed out in the task
        self.history: dict[int, list[dict[str, Any]]] = {}

    # -- the run ------------------------------------------------------------------------------
    def bind_run(self, run: RunInfo) -> None:
        super().bind_run(run)
        if run.tokenizer is None:
            raise ValueError("PCLL needs the run's tokenizer (RunInfo.tokenizer)")
        if run.scenario == "TIL":
            raise ValueError(
                "PCLL's TIL prompts need the task id at evaluation, which the generation "
                "evaluator does not pass: run PCLL in CIL or IIL"
            )
        self.tokenizer = run.tokenizer

    def prepare(self, model: nn.Module) -> nn.Module:
        inner = unwrap_model(model)
        if not hasattr(inner, "get_input_embeddings") or not hasattr(inner, "generate"):
            raise ValueError("PCLL needs a causal LM (backbone.kind causal_lm, head none)")
        inner.add_module("pcll_vae", PCLLVAE(inner.config.hidden_size, self.config.alpha_z))
        model.requires_grad_(True)
        self.model = model
        return model

    def collator(self, max_length: int | None = None) -> PCLLCollator:
        if self.max_length is None:
            self.max_length = max_length
        if self.max_length is None or self.tokenizer is None:
            raise ValueError("PCLL's collator needs bind_run and a max_length")
        return PCLLCollator(self.tokenizer, int(self.max_length))

    # -- task boundaries ------------------------------------------------------------------------
    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        self.step, self.cursor = 0, 0
        if task.index > 0:
            self.teacher.snapshot(model, task.index)
        else:
            self.teacher.clear()

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        self.task = task
        if task.index > 0 and not self.teacher.restore(model, task.index):
            raise ValueError(f"the checkpoint holds no PCLL teacher of task {task.index}")

    def after_optimizer_step(self, model: nn.Module, step: StepInfo) -> None:
        self.step = step.step

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        self.teacher.clear()

    # -- data -----------------------------------------------------------------------------------
    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        if task.index > 0 and self.config.pcll_gamma > 0 and self.pseudo_task != task.index:
            self.pseudo_rows = self.generate(task, data)
            self.pseudo_task, self.cursor = task.index, 0
        return [{**row, "is_pseudo": False} for row in data]

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        """Pair the real micro-batch with as many pseudo rows, from a cycled stream."""
        pool = self.pseudo_rows if self.pseudo_task == task.index else []
        if task.index == 0 or not pool:
            return examples
        n = len(pool)
        picked = []
        for _ in range(len(examples)):
            epoch, pos = divmod(self.cursor, n)
            g = torch.Generator().manual_seed(sample_seed(task.seed, task.index, 10_000 + epoch))
            picked.append(pool[int(torch.randperm(n, generator=g)[pos])])
            self.cursor += 1
        return [*examples, *(dict(r) for r in picked)]

    @torch.no_grad()
    def generate(self, task: TaskContext, data: Sequence[Any]) -> list[dict[str, Any]]:
        model = unwrap_model(self.model)
        collate = self.collator()
        vae: PCLLVAE = model.pcll_vae
        template = list(data[0].keys()) if len(data) else ["input", "target"]
        o = self.config
        sampling = Sampling(o.gen_top_k, o.gen_top_p, 1.0, o.gen_batch_size)
        device = next(model.parameters()).device
        prior_ids = torch.tensor([[*collate.prompt, collate.eos_id]], device=device)
        was_training = model.training
        model.eval()
        states = model(input_ids=prior_ids, output_hidden_states=True).hidden_states[-1]
        model.train(was_training)
        mean, logvar = vae.prior(states, torch.ones_like(prior_ids))
        latent: dict[str, torch.Tensor] = {}

        def add_z(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            b = output.shape[0]
            if "proj" not in latent or latent["proj"].shape[0] != b:
                z = sample_z(mean.expand(b, -1), logvar.expand(b, -1))
                latent["proj"] = vae.project(z).to(output.dtype)
            return output + latent["proj"][:, None, :]

        def parse(ids: list[int]):
            body, _ = cut_at_eos(ids, collate.eos_id)
            latent.pop("proj", None)  # the next batch draws its own z
            text = self.tokenizer.decode(body, skip_special_tokens=True)
            return split_text_once(text, ANSWER_SPLIT)

        rows, stats = [], []
        hook = model.get_input_embeddings().register_forward_hook(add_z)
        try:
            for j, count in enumerate(split_counts(int(o.pcll_gamma * len(data)), task.index)):
                pairs, st = generate_samples(
                    model, collate.prompt, count, parse, max_length=collate.max_length,
                    eos_id=collate.eos_id, sampling=sampling,
                    seed=sample_seed(task.seed, task.index, j),
                    desc=f"PCLL pseudo samples of task {j} (before task {task.index})",
                    progress=task.progress,
                ) if count else ([], None)  # fmt: skip
                for x, y in pairs:
                    rows.append({k: None for k in template} | {"input": x, "target": y})
                    rows[-1]["is_pseudo"] = True
                if st is not None:
                    stats.append(st.to_dict() | {"old_task": j})
                    message = (
                        f"task {task.index}: {st.kept}/{st.requested} PCLL pseudo samples of task "
                        f"{j} kept (discarded {st.discarded}) in {st.seconds:.1f}s"
                    )
                    log.info(message)
                    if task.progress:
                        tqdm.write(message)
        finally:
            hook.remove()
        self.history[task.index] = stats
        return rows

    # -- losses ---------------------------------------------------------------------------------
    def forward_loss(self, batch: Any, model: nn.Module) -> tuple[torch.Tensor, PCLLOutputs]:
        inner = unwrap_model(model)
        vae: PCLLVAE = inner.pcll_vae
        c = self.config
        n = batch["input_ids"].shape[0]
        keys = ("input_ids", "attention_mask", "position_ids")
        stacked = {k: torch.cat([batch[k], batch["post_" + k], batch["prior_" + k]]) for k in keys}
        out = model(**stacked, output_hidden_states=True)
        logits, states = out.logits[:n], out.hidden_states[-1]
        mean_q, logvar_q = vae.posterior(states[n : 2 * n], batch["post_attention_mask"])
        mean_p, logvar_p = vae.prior(states[2 * n :], batch["prior_attention_mask"])
        proj = vae.project(sample_z(mean_q, logvar_q))
        embeds = inner.get_input_embeddings()(batch["post_input_ids"]) + proj[:, None, :]
        rec_inputs = {
            "inputs_embeds": embeds,
            "attention_mask": batch["post_attention_mask"],
            "position_ids": batch["post_position_ids"],
        }
        rec_logits = model(**rec_inputs).logits
        kl = gaussian_kl(mean_q, logvar_q, mean_p, logvar_p)
        beta = beta_schedule(
            self.step, (self.task.total_steps if self.task else 0) or 1, c.beta_ratio
        )
        pseudo = batch["is_pseudo"].bool()

        def losses(rows: torch.Tensor) -> torch.Tensor:
            if not bool(rows.any()):
                return logits.sum() * 0.0
            lm = lm_loss(logits, batch["labels"], rows) + c.gen_weight * lm_loss(
                logits, batch["gen_labels"], rows
            )
            rec = lm_loss(rec_logits, batch["rec_labels"], rows)
            return lm + c.w_vae * (rec + c.kl_weight * beta * kl[rows].mean())

        total = losses(~pseudo) + losses(pseudo)
        if self.teacher and bool(pseudo.any()):
            total = total + self.distill(batch, logits, rec_logits, rec_inputs, pseudo)
        return total, PCLLOutputs(logits)

    def distill(self, batch, logits, rec_logits, rec_inputs, rows) -> torch.Tensor:
        """KD at T = 1 on the pseudo rows: QA + gen_weight GEN on (d), w_vae on the
        reconstruction (the teacher gets the student's z-shifted embeddings, detached)."""
        c, t = self.config, self.config.kd_temperature
        keys = ("input_ids", "attention_mask", "position_ids")
        with torch.no_grad():
            t_logits = self.teacher.model(**{k: batch[k][rows] for k in keys}).logits
            sub = {k: v[rows].detach() for k, v in rec_inputs.items()}
            t_rec = self.teacher.model(**sub).logits
        qa = kd_loss(logits[rows], t_logits, batch["labels"][rows], t)
        gen = kd_loss(logits[rows], t_logits, batch["gen_labels"][rows], t)
        rec = kd_loss(rec_logits[rows], t_rec, batch["rec_labels"][rows], t)
        return qa + c.gen_weight * gen + c.w_vae * rec

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "teacher": self.teacher.state_dict(),
            "step": self.step,
            "pseudo_task": self.pseudo_task,
            "pseudo_rows": [dict(r) for r in self.pseudo_rows],
            "cursor": self.cursor,
            "history": {str(k): v for k, v in self.history.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.teacher.load_state_dict(state.get("teacher", {}))
        self.step, self.cursor = int(state.get("step", 0)), int(state.get("cursor", 0))
        task = state.get("pseudo_task")
        self.pseudo_task = None if task is None else int(task)
        self.pseudo_rows = [dict(r) for r in state.get("pseudo_rows", [])]
        self.history = {int(k): list(v) for k, v in state.get("history", {}).items()}
