"""One output folder holds one run: refuse to mix runs, and resume only the same run.

Call :func:`claim` right after :func:`config.load` (before loading data or a model):

- without ``--resume``: a folder that already holds files is refused, unless ``--overwrite``,
  which empties a folder that holds a run (``run_config.yaml``) first; a folder with other files
  is never emptied;
- with ``--resume``: the folder must hold a checkpoint; its saved ``run_config.yaml`` and
  ``versions.json`` (the installed cl-* / torch / transformers versions) are compared with the new
  merged configuration, and any difference that can change results is refused in one line listing
  the keys. Differences in :data:`HARMLESS` keys (output only) are allowed and printed.

:func:`save` writes ``run_config.yaml`` and ``versions.json`` (instead of ``config.save``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .config import CONFIG_FILE, ConfigError, plain
from .config import save as config_save

VERSIONS_FILE = "versions.json"
#: leaf names whose value cannot change a result (matched on the last part of a dotted key)
HARMLESS = frozenset(
    {
        "resume",
        "overwrite",
        "output_dir",
        "progress",
        "log_with",
        "plot",
        "num_workers",
        "threads",
        "verbose",
        "verbosity",
    }
)
#: how this invocation treats the folder, not settings of the run (not listed)
CONTROL = frozenset({"resume", "overwrite", "output_dir"})
PACKAGES = ("cl-data", "cl-eval", "cl-methods", "cl-kernels", "torch", "transformers", "peft")


def installed_versions() -> dict[str, str]:
    """The versions of the packages a run's numbers depend on ("absent" if not installed)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            try:  # the monorepo's packages run from source (PYTHONPATH) without metadata
                module = importlib.import_module(name.replace("-", "_"))
                out[name] = str(getattr(module, "__version__", "unknown"))
            except ImportError:
                out[name] = "absent"
    return out


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists and scalars are leaves)."""
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_norm(v) for v in value]
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def differences(
    saved: dict[str, Any], current: dict[str, Any], harmless: Iterable[str] = HARMLESS
) -> tuple[list[str], list[str]]:
    """(result-changing, harmless) differences between two configuration trees, each as
    ``key (saved X, now Y)``."""
    allowed = set(harmless)
    a, b = flatten(saved), flatten(current)
    bad, fine = [], []
    for key in sorted(set(a) | set(b)):
        was, now = _norm(a.get(key, "<absent>")), _norm(b.get(key, "<absent>"))
        if was == now:
            continue
        leaf = key.rsplit(".", 1)[-1]
        if leaf in CONTROL:
            continue
        text = f"{key} (saved {was!r}, now {now!r})"
        (fine if leaf in allowed else bad).append(text)
    return bad, fine


def has_checkpoint(out: Path) -> bool:
    return (out / "checkpoints" / "latest").is_file()


def _read_saved(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    path = out / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"--resume: {out} has a checkpoint but no {CONFIG_FILE}; cannot check it")
    try:
        saved = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f"--resume: {path} is not valid YAML") from None
    versions_path = out / VERSIONS_FILE
    versions = {}
    if versions_path.is_file():
        try:
            versions = json.loads(versions_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError(f"--resume: {versions_path} is not valid JSON") from None
    return saved, versions


def check_resume(
    cfg: Any, out: Path, harmless: Iterable[str] = HARMLESS, need_checkpoint: bool = True
) -> list[str]:
    """Refuse to resume ``out`` with another configuration or package versions; returns the
    allowed (harmless) differences."""
    if need_checkpoint and not has_checkpoint(out):
        raise ConfigError(
            f"--resume: {out} holds no checkpoint to resume (run without --resume to start it)"
        )
    saved, saved_versions = _read_saved(out)
    bad, fine = differences(saved, plain(cfg), harmless)
    if saved_versions:
        now = installed_versions()
        bad += [
            f"version of {k} (saved {saved_versions.get(k)!r}, now {now.get(k)!r})"
            for k in sorted(set(saved_versions) | set(now))
            if saved_versions.get(k) != now.get(k)
        ]
    if bad:
        raise ConfigError(
            f"cannot resume {out}: the run differs in {', '.join(bad)} (resume with "
            f"--config {out / CONFIG_FILE}, or start another run with --output-dir)"
        )
    return fine


def _empty(out: Path) -> None:
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def claim(cfg: Any, out: str | Path) -> None:
    """Check ``out`` for this run (see the module docstring) before anything is written there;
    ``--overwrite`` empties it. ``cfg`` needs ``resume`` and ``overwrite`` fields."""
    out = Path(out)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # the main process checks (and may empty) the folder
    resume, overwrite = bool(cfg.resume), bool(getattr(cfg, "overwrite", False))
    if resume and overwrite:
        raise ConfigError("--overwrite and --resume exclude each other")
    if resume:
        fine = check_resume(cfg, out)
        if fine:
            print(f"resume: allowed differences (output only): {', '.join(fine)}", file=sys.stderr)
    elif out.exists():
        if not out.is_dir():
            raise ConfigError(f"--output-dir {out}: exists and is not a folder")
        if any(out.iterdir()):
            markers = (out / CONFIG_FILE, out / VERSIONS_FILE, out / "checkpoints")
            is_run = any(m.exists() for m in markers)
            if not is_run:
                raise ConfigError(
                    f"--output-dir {out}: holds files that are not a run; choose another folder"
                )
            if not overwrite:
                raise ConfigError(
                    f"--output-dir {out} already holds a run: pass --resume to continue it, "
                    f"--overwrite to replace it, or another --output-dir"
                )
            _empty(out)


def save(cfg: Any, out: str | Path) -> Path:
    """Write ``run_config.yaml`` and ``versions.json`` (after validation, before training)."""
    path = config_save(cfg, out)
    (Path(out) / VERSIONS_FILE).write_text(json.dumps(installed_versions(), indent=2) + "\n")
    return path
