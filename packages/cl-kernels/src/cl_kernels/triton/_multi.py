"""Multi-tensor launches: one Triton grid over every block of every tensor in a dtype group.

Each program ``pid`` reads ``index[pid]`` (which tensor) and ``start[pid]`` (its first element) from
the block table, and the tensor's address from a pointer table of each role (e.g. Fisher, grad).
No tensor is copied; in-place updates write straight into the caller's tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import triton
import triton.language as tl

from .._pack import block_table, pointer_table

BLOCK = 2048

TL_DTYPES = {
    torch.float32: tl.float32,
    torch.float16: tl.float16,
    torch.bfloat16: tl.bfloat16,
    torch.float64: tl.float64,
}


@triton.jit
def block_of(index_ptr, start_ptr, numels_ptr, BLOCK: tl.constexpr):
    """This program's ``(pid, i, offs, mask)``: its block table row, the tensor index ``i`` it
    covers, the element offsets of its block and the mask of those inside tensor ``i``."""
    pid = tl.program_id(0)
    i = tl.load(index_ptr + pid)
    offs = tl.load(start_ptr + pid) + tl.arange(0, BLOCK)
    return pid, i, offs, offs < tl.load(numels_ptr + i)


@triton.jit
def role_ptr(ptrs, i, DT: tl.constexpr):
    """Tensor ``i``'s address from a pointer table, typed as ``DT``."""
    return tl.load(ptrs + i).to(tl.pointer_type(DT))


def tl_dtype(dtype: torch.dtype):
    if dtype not in TL_DTYPES:
        raise TypeError(f"cl_kernels Triton kernels take float16/bfloat16/float32/64, got {dtype}")
    return TL_DTYPES[dtype]


class Group:
    """The tables of one dtype group: ``ptrs[role]``, ``index``, ``start``, ``numels``."""

    def __init__(self, columns: Sequence[Sequence[torch.Tensor]], device: torch.device) -> None:
        first = columns[0]
        sizes = [t.numel() for t in first]
        self.numel_list = sizes
        self.ptrs = [pointer_table(col, device) for col in columns]
        self.index, self.start = block_table(sizes, BLOCK, device)
        self.numels = torch.tensor(sizes, dtype=torch.int64, device=device)
        self.n_blocks = int(self.index.numel())
        self.n_tensors = len(sizes)
        self.dtypes = [tl_dtype(col[0].dtype) for col in columns]

    @property
    def grid(self) -> tuple[int]:
        return (self.n_blocks,)


def contiguous(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [t.detach().contiguous() for t in tensors]
