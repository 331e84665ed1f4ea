"""Nested state (method states, optimizer states, RNG states) as JSON plus safetensors, no pickle.

:func:`save_state` writes ``<name>.json`` (the structure, with numbers, strings and booleans in
place) and, when the state holds tensors, ``<name>.safetensors`` (every tensor under a key that
the JSON names). :func:`load_state` reads them back into the same Python objects. Supported:
``None``, booleans, integers (any size), floats (NaN and infinities included), strings,
tensors, NumPy arrays and scalars, lists, tuples, sets and dicts with keys of any of the scalar
types above. Anything else is an error that names where it sits (``method.replay.items[3]``),
so a method learns at its first checkpoint, not at resume time, that its state cannot be saved.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from . import jsonsafe

TAG = "__cl__"  # a dict holding this key encodes a non-JSON value
FORMAT = "cl-methods.state/1"


class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def encode(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {TAG: "float", "value": repr(value)}
        if isinstance(value, torch.Tensor):
            key = f"t{len(self.tensors)}"
            # safetensors refuses shared storage: every tensor gets its own contiguous copy.
            self.tensors[key] = value.detach().cpu().contiguous().clone()
            return {TAG: "tensor", "key": key}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"{where}: object arrays cannot be saved")
            return {
                TAG: "ndarray",
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "data": value.ravel().tolist(),
            }
        if isinstance(value, np.generic):
            return {TAG: "npscalar", "dtype": value.dtype.str, "value": value.item()}
        if isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
            out = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(items)]
            if isinstance(value, list):
                return out
            kind = "tuple" if isinstance(value, tuple) else "set"
            return {TAG: kind, "items": out}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and TAG not in value:
                return {k: self.encode(v, f"{where}.{k}") for k, v in value.items()}
            pairs = []
            for k, v in value.items():
                if not isinstance(k, (str, int, float, bool, tuple)) and k is not None:
                    raise TypeError(f"{where}: dict key {k!r} of type {type(k).__name__}")
                pairs.append([self.encode(k, f"{where}<key>"), self.encode(v, f"{where}[{k!r}]")])
            return {TAG: "dict", "items": pairs}
        raise TypeError(
            f"{where}: a {type(value).__name__} cannot be saved in a checkpoint (use dicts, "
            "lists, tuples, numbers, strings, tensors or NumPy arrays)"
        )


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TAG)
    if kind is None:
        return {k: _decode(v, tensors) for k, v in value.items()}
    if kind == "tensor":
        return tensors[value["key"]]
    if kind == "float":
        return float(value["value"])
    if kind == "ndarray":
        data = np.array(value["data"], dtype=np.dtype(value["dtype"]))
        return data.reshape(value["shape"])
    if kind == "npscalar":
        return np.dtype(value["dtype"]).type(value["value"])
    if kind == "tuple":
        return tuple(_decode(v, tensors) for v in value["items"])
    if kind == "set":
        return {_decode(v, tensors) for v in value["items"]}
    if kind == "dict":
        return {_decode(k, tensors): _decode(v, tensors) for k, v in value["items"]}
    raise ValueError(f"unknown encoded value kind {kind!r}")


def encode_state(state: Any, where: str = "state") -> tuple[Any, dict[str, torch.Tensor]]:
    """``(json_value, tensors)`` for ``state`` (see the module docstring)."""
    encoder = _Encoder()
    return encoder.encode(state, where), encoder.tensors


def decode_state(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    return _decode(value, tensors)


def plain(value: Any) -> Any:
    """JSON-like copy for comparisons and reports: tuples become lists, keys strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def umask_mode() -> int:
    """The mode a new file gets from ``open()`` under the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_safetensors(tensors: dict[str, Any], path: str | Path, metadata=None) -> None:
    """``safetensors.torch.save_file`` with the mode ``open()`` would give (safetensors writes
    its files readable by the owner only)."""
    save_file(tensors, str(path), metadata=metadata)
    os.chmod(path, umask_mode())


def apply_umask(folder: str | Path) -> None:
    """Give every file under ``folder`` the mode ``open()`` would give: for folders written by
    ``save_pretrained``, whose safetensors files come out readable by the owner only."""
    mode = umask_mode()
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def save_state(folder: str | Path, name: str, state: Any) -> None:
    """Write ``state`` as ``<name>.json`` (+ ``<name>.safetensors`` when it holds tensors)."""
    folder = Path(folder)
    value, tensors = encode_state(state, name)
    if tensors:
        tmp = folder / f"{name}.safetensors.tmp"
        save_safetensors(tensors, tmp, metadata={"format": FORMAT})
        tmp.replace(folder / f"{name}.safetensors")
    _write(folder / f"{name}.json", jsonsafe.dumps({"format": FORMAT, "state": value}, indent=1))


def load_state(folder: str | Path, name: str) -> Any:
    """Read what :func:`save_state` wrote; a clear error when the files are missing or foreign."""
    folder = Path(folder)
    path = folder / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    tensor_path = folder / f"{name}.safetensors"
    tensors = load_file(str(tensor_path)) if tensor_path.is_file() else {}
    return decode_state(data["state"], tensors)
