"""``python -m cl_kernels``: print which backend serves each op here, and why not the others."""

from . import format_info

print(format_info())
