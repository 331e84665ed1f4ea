"""Atomic checkpoints: write into a temporary folder, then rename; ``latest`` names the newest.

A checkpoint folder holds ``state.json`` (position in the stream and results so far),
``model.safetensors`` (every parameter that was ever trainable plus persistent buffers),
``optimizer.pt``, ``scheduler.pt``, ``method.pt`` and ``rng-<rank>.pt`` (one per process).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

LATEST = "latest"


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
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def model_tensors(model: torch.nn.Module, names: set[str]) -> dict[str, torch.Tensor]:
    """The named parameters in ``names`` plus every persistent buffer, detached on the CPU."""
    state = model.state_dict()
    keep = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    params = {n for n, _ in model.named_parameters()}
    out = {}
    for key, value in keep.items():
        if key in params and key not in names:
            continue
        out[key] = value.detach().cpu().contiguous()
    return out


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
        tmp = self.root / f".tmp-{tag}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        return tmp

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


def save_model_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    # safetensors refuses tensors that share storage: give each its own copy.
    save_file({k: v.clone() for k, v in tensors.items()}, str(path))


def load_model_tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))
