"""Helpers shared by the Triton and C++ wrappers for ops over many tensors.

- ``pack``: one flat contiguous buffer from many tensors (plus offsets), cached while the very same
  tensors are passed unchanged (frozen stacks such as O-LoRA's ``A_old`` are packed once per task);
- ``pointer_table`` / ``block_table``: a multi-tensor launch without copying, where every program
  finds its tensor's address and its block's start in two small tables;
- ``group_by_dtype``: one launch per dtype group.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class PackCache:
    """Remembers one packed buffer; valid while the same tensor objects have the same versions.

    It holds strong references to the packed tensors, so their memory cannot be reused by new
    tensors while the entry lives, and ``Tensor._version`` catches in-place changes.
    """

    def __init__(self) -> None:
        self._tensors: tuple[torch.Tensor, ...] = ()
        self._versions: tuple[int, ...] = ()
        self._dtype: torch.dtype | None = None
        self._value: tuple[torch.Tensor, list[int]] | None = None

    def get(
        self, tensors: Sequence[torch.Tensor], dtype: torch.dtype
    ) -> tuple[torch.Tensor, list[int]]:
        versions = tuple(t._version for t in tensors)
        if (
            self._value is not None
            and self._dtype == dtype
            and len(tensors) == len(self._tensors)
            and all(a is b for a, b in zip(tensors, self._tensors))
            and versions == self._versions
        ):
            return self._value
        value = pack(tensors, dtype)
        self._tensors, self._versions, self._dtype, self._value = (
            tuple(tensors),
            versions,
            dtype,
            value,
        )
        return value


def pack(tensors: Sequence[torch.Tensor], dtype: torch.dtype) -> tuple[torch.Tensor, list[int]]:
    """(flat buffer of ``dtype``, element offset of each tensor in it). Detached from autograd."""
    offsets, total = [], 0
    for t in tensors:
        offsets.append(total)
        total += t.numel()
    if not tensors:
        return torch.empty(0, dtype=dtype), offsets
    if len(tensors) == 1:
        flat = tensors[0].detach().reshape(-1).to(dtype)
        return flat.contiguous(), offsets
    flat = torch.cat([t.detach().reshape(-1).to(dtype) for t in tensors])
    return flat, offsets


def common_dtype(tensors: Sequence[torch.Tensor]) -> torch.dtype:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def unpack(
    flat: torch.Tensor, like: Sequence[torch.Tensor], offsets: Sequence[int]
) -> list[torch.Tensor]:
    """Views of ``flat`` shaped like ``like`` (cast to each one's dtype, which copies if needed)."""
    pairs = zip(like, offsets, strict=True)
    return [flat[o : o + t.numel()].view(t.shape).to(t.dtype) for t, o in pairs]


def pointer_table(tensors: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    """int64 tensor of data pointers (tensors must be contiguous)."""
    return torch.tensor([t.data_ptr() for t in tensors], dtype=torch.int64, device=device)


_BLOCKS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def block_table(
    numels: Sequence[int], block: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tensor index, start element) of every ``block``-sized chunk of every tensor, as int64
    tensors on ``device``; no chunk straddles two tensors. Cached by sizes."""
    key = (tuple(numels), block, str(device))
    if key not in _BLOCKS:
        counts = torch.tensor([-(-n // block) for n in numels], dtype=torch.int64)
        index = torch.repeat_interleave(torch.arange(len(numels)), counts)
        first = torch.cumsum(counts, 0) - counts
        start = (torch.arange(int(counts.sum())) - first[index]) * block
        if len(_BLOCKS) > 64:
            _BLOCKS.clear()
        _BLOCKS[key] = (index.to(device), start.to(device))
    return _BLOCKS[key]


def group_by_dtype(*columns: Sequence[torch.Tensor | None]) -> dict[tuple, list[int]]:
    """Indices of rows grouped by the tuple of their dtypes across ``columns``; rows where any
    column is None are left out."""
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(zip(*columns, strict=True)):
        if any(t is None for t in row):
            continue
        groups.setdefault(tuple(t.dtype for t in row), []).append(i)
    return groups
