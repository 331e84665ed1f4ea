"""The fault-injection harness of the reliability suite: an app family's tiny run, killed with
SIGKILL at a chosen checkpoint (through ``tests/fault_injection.py``, a trainer callback outside
production code), resumed, and compared with an uninterrupted run bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
from quick_args import QUICK_KIF  # noqa: E402

FAULTS = ROOT / "tests" / "fault_injection.py"
CLASSIC = ROOT / "apps" / "configs" / "classic" / "topic3_minilm_seq.yaml"
#: keys whose values are wall-clock times, paths or the host, not results
VOLATILE = {"seconds", "created", "runtime_s", "hardware", "environment", "versions", "resume"}
SKIPPED = {"run_config.yaml", "trainer_config.json", "versions.json", "results.md", "results.png"}


@dataclass(frozen=True)
class Family:
    """One app family: its script, the arguments of a tiny run, the faults to inject as
    (name, kill step, when, checkpoint status) and whether it needs the shared data."""

    script: str
    args: tuple[str, ...]
    faults: tuple[tuple[str, int, str, str | None], ...]
    needs_data: bool = False
    env: dict[str, str] = field(default_factory=dict)


#: run_cl.py on a tiny BERT: topic3's SEQ config, 2 tasks x 2 examples per class, batch 2
TINY_RUN_CL = (
    *("--config", str(CLASSIC), "--backbone.model", "tiny-bert"),
    *("--data.train_per_class", "2", "--data.test_per_class", "2", "--data.num_tasks", "2"),
    *("--trainer.progress", "false", "--trainer.batch_size", "2"),
)

FAMILIES: dict[str, Family] = {
    # 2 tasks x 5 steps, checkpoints at 2, 4, 5 (task end), 6, 8, 10
    "run_cl": Family(
        "run_cl.py",
        (*TINY_RUN_CL, "--trainer.epochs", "1", "--trainer.checkpoint_every", "2"),
        (
            ("mid-task", 6, "saved", "in_task"),
            ("task boundary", 5, "saved", "task_done"),
            ("inside a checkpoint write", 8, "staged", None),
        ),
    ),
    # O-LoRA recipe on the tiny T5: 4 tasks x 4 steps, checkpoints every 3 steps + task ends
    "olora": Family(
        "reproduce_olora.py",
        tuple(
            [
                "--preset",
                "smoke",
                "--max-train-samples",
                "8",
                "--max-test-samples",
                "4",
                "--epochs",
                "1",
                "--global-batch",
                "2",
                "--per-device-batch",
                "2",
                "--checkpoint-every",
                "3",
                "--log-with",
                "none",
                "--no-progress",
                "--no-plot",
                "--no-analysis",
            ]
        ),
        (
            ("mid-task", 6, "saved", "in_task"),
            ("task boundary", 8, "saved", "task_done"),
            ("inside a checkpoint write", 9, "staged", None),
        ),
    ),
    # Recurrent-KIF: 3 tasks x 12 steps (continuous schedule), checkpoints every 4 steps
    "kif": Family(
        "reproduce_kif.py",
        (*QUICK_KIF, "--checkpoint-every", "4"),
        (
            ("mid-task", 20, "saved", "in_task"),
            ("task boundary", 12, "saved", "task_done"),
            ("inside a checkpoint write", 28, "staged", None),
        ),
        needs_data=True,
    ),
    # TAALM recipe (mixreview on LAMA-ckl): one task, 2 epochs, a checkpoint every step
    "taalm": Family(
        "reproduce_taalm.py",
        tuple(
            [
                "--preset",
                "smoke",
                "--progress",
                "false",
                "--log-with",
                "none",
                "--benchmark",
                "lama-ckl",
                "--limit-train",
                "8",
                "--limit-probes",
                "8",
                "--epochs",
                "2",
                "--method",
                "mixreview",
                "--checkpoint-every",
                "1",
                "--threads",
                "1",
            ]
        ),
        (
            ("mid-task", 3, "saved", "in_task"),
            ("task boundary", 1, "saved", "task_done"),
            ("inside a checkpoint write", 2, "staged", None),
        ),
        needs_data=True,
        env={"OMP_NUM_THREADS": "1"},
    ),
}


def run(family: Family, out: Path, *extra: str, kill: tuple | None = None):
    """Run the app as a script (``kill``: (step, when, status) of the SIGKILL)."""
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1", **family.env)
    inject: list[str] = []
    if kill is not None:
        step, when, status = kill
        inject = [str(FAULTS), "--kill-after-step", str(step), "--when", when]
        inject += [] if status is None else ["--status", status]
    cmd = [sys.executable, *inject, str(ROOT / "apps" / family.script), *family.args]
    cmd += ["--output-dir", str(out), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def strict_json_files(folder: Path) -> list[Path]:
    """Parse every JSON / JSON-lines file under ``folder`` strictly (no NaN / Infinity)."""

    def reject(token: str) -> Any:
        raise AssertionError(f"non-strict JSON token {token}")

    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".json":
            json.loads(path.read_text(), parse_constant=reject)
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                json.loads(line, parse_constant=reject)
        else:
            continue
        found.append(path)
    return found


def owner_only_files(folder: Path) -> list[str]:
    """Files readable by fewer people than the process umask allows."""
    mask = os.umask(0)
    os.umask(mask)
    wanted = 0o444 & ~mask
    return [
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and (p.stat().st_mode & 0o444) != wanted
    ]


def _drop(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_drop(v) for v in value]
    return value


def _load(path: Path, root: Path) -> Any:
    if path.suffix == ".safetensors":
        return load_file(str(path))
    text = path.read_text(errors="replace").replace(str(root.resolve()), "<out>")
    text = text.replace(str(root), "<out>")
    if path.suffix == ".json":
        return _drop(json.loads(text))
    if path.suffix == ".jsonl":
        return [_drop(json.loads(line)) for line in text.splitlines()]
    return text


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and a and all(torch.is_tensor(v) for v in a.values()):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return a == b


def outputs(folder: Path) -> list[Path]:
    """The run's files that must match: everything but checkpoints, logs of trackers and the
    files that name the folder or the host."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_dir() or rel.parts[0] in ("checkpoints", "runs") or rel.name in SKIPPED:
            continue
        if "events.out.tfevents" in rel.name:
            continue
        out.append(rel)
    return out


def differing(full: Path, cut: Path) -> list[str]:
    """The files of the two runs that differ (or exist in one only), plus the final
    checkpoint's model tensors."""
    a, b = outputs(full), outputs(cut)
    bad = sorted({str(p) for p in set(a) ^ set(b)})
    for rel in a:
        if rel in b and not _same(_load(full / rel, full), _load(cut / rel, cut)):
            bad.append(str(rel))
    latest = [(f / "checkpoints" / "latest").read_text().strip() for f in (full, cut)]
    if latest[0] != latest[1]:
        bad.append(f"checkpoints/latest ({latest[0]} vs {latest[1]})")
    else:
        models = [f / "checkpoints" / latest[0] / "model.safetensors" for f in (full, cut)]
        if not _same(load_file(str(models[0])), load_file(str(models[1]))):
            bad.append(f"checkpoints/{latest[0]}/model.safetensors")
    return bad
