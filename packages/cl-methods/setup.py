"""Dependencies of cl-methods.

cl-kernels is its one in-house dependency. Inside the monorepo (`pip install ./packages/cl-methods`)
it is taken from the sibling folder, so the command works without any index that knows cl-kernels.
Set CL_MONOREPO_DEPS=0 to record a plain version requirement instead (used when building wheels
that will be installed with `--find-links`).
"""

import os
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
KERNELS = HERE.parent / "cl-kernels"

BASE = [
    "torch>=2.4",
    "transformers>=4.45",
    "peft>=0.12",
    "accelerate>=1.0",
    "safetensors>=0.4",
    "tqdm>=4.60",
    "numpy>=1.24",
    "tensorboard>=2.14",
]

if os.environ.get("CL_MONOREPO_DEPS", "1") != "0" and (KERNELS / "pyproject.toml").exists():
    kernels_req = f"cl-kernels @ {KERNELS.as_uri()}"
else:
    kernels_req = "cl-kernels>=0.1.0"

setup(install_requires=[*BASE, kernels_req])
