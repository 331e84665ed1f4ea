"""The outer loop of Train-Attention meta-training (spec §4): resumable, validated checkpoints.

    phi_state = zeros; step = 0; rng = Random(1); validate(0)
    for epoch in range(30):
        order = rng.shuffle(pool)                     # one RNG, reshuffled each epoch
        for batch in chunks(order, 16):               # last partial chunk: mean over its size
            G = mean(meta_grad(phi, theta0, s) for s in batch)
            phi, phi_state = adamw(phi, G, phi_state, lr=2e-4)     # no grad
            step += 1
            if step % 10 == 0: validate(step); save(phi, step)

Validation (and a checkpoint) happens at step 0 and at every multiple of ``eval_every`` only, as in
the spec and the released code: when the last step is not a multiple, the steps after the last
multiple are trained but never validated, so they cannot be selected (``validate_last=True``
validates and saves that last step too).

Output folder: ``checkpoints/step_XXXXXX/`` (phi's trainable tensors), ``validation_log.json``,
``selected.json`` (best so far: highest accuracy, then lower NLL, then earlier step), and
``state.pt`` (everything needed to resume after the last validation).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import jsonsafe
from ..state_io import load_state, plain, save_state
from .adamw import AdamState, adamw_step
from .batching import MetaSample
from .meta import InnerConfig, meta_gradient
from .model import TrainAttention
from .validation import ValidationConfig, snapshot_theta0, validate


@dataclass
class MetaTrainConfig:
    """Meta-training settings (spec taalm.md section 4; defaults are the paper's).

    ``eval_every``: phi steps between validations (each also saves a checkpoint).
    ``validate_last``: also validate and save after the last step when it is not a multiple of
    ``eval_every``. Off by default, as in the released code, whose selection only sees multiples.
    """

    epochs: int = 30
    batch_size: int = 16
    phi_lr: float = 2e-4
    phi_betas: tuple[float, float] = (0.9, 0.999)
    phi_weight_decay: float = 0.01
    eval_every: int = 10
    shuffle_seed: int = 1
    pad_token_id: int = 0
    validate_last: bool = False
    inner: InnerConfig = field(default_factory=InnerConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


def select_checkpoint(log: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Highest validation accuracy; ties go to lower NLL, then to the earlier step."""
    if not log:
        raise ValueError("no validation results to select from")
    return min(log, key=lambda e: (-e["acc"], e["nll"], e["step"]))


def _write_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(jsonsafe.dumps(obj, indent=2))
    tmp.replace(path)


class MetaTrainer:
    """Meta-trains ``phi`` against ``theta`` (its trainable tensors at construction are theta0).

    save_phi(phi, folder) writes a checkpoint; the default writes phi's trainable tensors with
    :func:`cl_methods.taalm.checkpoint.save_train_attention` and no backbone name.
    """

    def __init__(
        self,
        phi: TrainAttention,
        theta: nn.Module,
        train: Sequence[MetaSample],
        val: Sequence[MetaSample],
        config: MetaTrainConfig,
        out_dir: str | os.PathLike[str],
        *,
        save_phi: Callable[[TrainAttention, Path], Any] | None = None,
        progress: bool = True,
    ) -> None:
        if not train:
            raise ValueError("the meta-training pool is empty")
        self.phi, self.theta = phi, theta
        self.train, self.val = list(train), list(val)
        self.config = config
        self.out = Path(out_dir)
        self.progress = progress
        self.theta0 = snapshot_theta0(theta)
        if save_phi is None:
            from .checkpoint import save_train_attention

            def save_phi(p: TrainAttention, folder: Path) -> None:
                save_train_attention(p, folder, backbone="", lora=None)

        self.save_phi = save_phi
        self.log: list[dict[str, Any]] = []

    # -- persistence ------------------------------------------------------------------------
    def _state_path(self) -> Path:
        return self.out / "state.json"  # + state.safetensors (cl_methods.state_io: no pickle)

    def _save_state(self, **loop: Any) -> None:
        state = {
            "config": self.config.to_dict(),
            "phi": {
                n: p.detach().cpu().clone() for n, p in self.phi.trainable_parameters().items()
            },
            "phi_state": self.phi_state.state_dict(),
            "log": self.log,
            "torch_rng": torch.get_rng_state(),
            **loop,
        }
        save_state(self.out, "state", state)

    def _load_state(self) -> dict[str, Any]:
        state = load_state(self.out, "state")
        if plain(state["config"]) != plain(self.config.to_dict()):
            raise ValueError(
                f"{self._state_path()} was written with another configuration; use a new output "
                "folder or --resume false"
            )
        with torch.no_grad():
            for n, p in self.phi.trainable_parameters().items():
                p.copy_(state["phi"][n])
        device = next(iter(self.phi.trainable_parameters().values())).device
        st = AdamState.from_state_dict(state["phi_state"])
        self.phi_state = AdamState(
            st.step,
            {k: v.to(device) for k, v in st.exp_avg.items()},
            {k: v.to(device) for k, v in st.exp_avg_sq.items()},
        )
        self.log = list(state["log"])
        torch.set_rng_state(state["torch_rng"])
        return state

    def _validate_and_save(self, step: int, epoch: int) -> dict[str, Any]:
        folder = self.out / "checkpoints" / f"step_{step:06d}"
        self.save_phi(self.phi, folder)
        entry: dict[str, Any] = {"step": step, "epoch": epoch, "checkpoint": str(folder)}
        if self.val:
            res = validate(
                self.phi,
                self.theta,
                self.theta0,
                self.val,
                self.config.validation,
                self.config.pad_token_id,
            )
            entry.update(acc=res.acc, nll=res.nll)
            self.log.append(entry)
            _write_json(self.log, self.out / "validation_log.json")
            _write_json(select_checkpoint(self.log), self.out / "selected.json")
        return entry

    # -- the loop -----------------------------------------------------------------------------
    def _phi_step(self, batch: Sequence[MetaSample]) -> float:
        params = self.phi.trainable_parameters()
        total = {n: torch.zeros_like(p) for n, p in params.items()}
        losses = 0.0
        # both models in train mode during meta-steps, as in the reference (LoRA dropout, if any)
        self.phi.train()
        self.theta.train()
        for sample in batch:
            g, loss = meta_gradient(
                self.phi, params, self.theta, self.theta0, sample, self.config.inner
            )
            for n in total:
                total[n] += g[n]
            losses += loss
        mean = {n: t / len(batch) for n, t in total.items()}
        with torch.no_grad():
            current = {n: p.detach() for n, p in params.items()}
            new, self.phi_state = adamw_step(
                current,
                mean,
                self.phi_state,
                lr=self.config.phi_lr,
                betas=self.config.phi_betas,
                weight_decay=self.config.phi_weight_decay,
            )
            for n, p in params.items():
                p.copy_(new[n])
        return losses / len(batch)

    def run(self, resume: bool = True, stop_after: int | None = None) -> dict[str, Any]:
        """Train; returns ``{"log", "selected", "steps", "done"}``. With ``resume`` and a
        ``state.pt`` in the output folder, continues from the last validation. ``stop_after``
        ends the run early after that many steps (as an interruption would)."""
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        self.phi_state = AdamState.zeros_like(
            {n: p.detach() for n, p in self.phi.trainable_parameters().items()}
        )
        rng = random.Random(cfg.shuffle_seed)
        step, epoch, pos, order = 0, 0, 0, None
        if resume and self._state_path().is_file():
            state = self._load_state()
            step, epoch, pos, order = state["step"], state["epoch"], state["pos"], state["order"]
            rng.setstate(state["rng"])
        else:
            self._validate_and_save(0, 0)
            self._save_state(step=0, epoch=0, pos=0, order=None, rng=rng.getstate(), done=False)
        n = len(self.train)
        steps_per_epoch = -(-n // cfg.batch_size)
        total = cfg.epochs * steps_per_epoch
        bar = tqdm(total=total, initial=step, desc="meta-training phi", disable=not self.progress)
        last_validated = self.log[-1]["step"] if self.log else 0
        while epoch < cfg.epochs:
            if order is None:
                order = list(range(n))
                rng.shuffle(order)
            chunks = [order[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
            for b in range(pos, len(chunks)):
                if stop_after is not None and step >= stop_after:
                    bar.close()
                    return {"log": self.log, "selected": None, "steps": step, "done": False}
                loss = self._phi_step([self.train[i] for i in chunks[b]])
                step += 1
                bar.update(1)
                bar.set_postfix(outer_loss=f"{loss:.4f}")
                if step % cfg.eval_every == 0:
                    self._validate_and_save(step, epoch)
                    last_validated = step
                    next_pos, next_epoch, next_order = b + 1, epoch, order
                    if next_pos == len(chunks):
                        next_pos, next_epoch, next_order = 0, epoch + 1, None
                    self._save_state(
                        step=step,
                        epoch=next_epoch,
                        pos=next_pos,
                        order=next_order,
                        rng=rng.getstate(),
                        done=False,
                    )
            epoch, pos, order = epoch + 1, 0, None
        bar.close()
        if cfg.validate_last and step != last_validated:
            self._validate_and_save(step, cfg.epochs - 1)
        self._save_state(
            step=step, epoch=cfg.epochs, pos=0, order=None, rng=rng.getstate(), done=True
        )
        selected = select_checkpoint(self.log) if self.log else None
        return {"log": self.log, "selected": selected, "steps": step, "done": True}
