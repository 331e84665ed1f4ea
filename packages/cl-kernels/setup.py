"""Build of cl-kernels: pure Python plus one optional C++ extension per ``cpp/*.cpp``.

Every ``cpp/<stem>.cpp`` becomes the extension module ``cl_kernels._cpp_<stem>`` (pybind11 + OpenMP,
operating on raw CPU buffers, no libtorch). Adding an op's C++ file needs no edit here.

A missing compiler, pybind11 or OpenMP never breaks the install: each extension is tried with
``-O3 -march=native -fopenmp``, then without the native and OpenMP flags, and is skipped with a
warning if it still fails. The package then uses its PyTorch reference on CPU
(``python -m cl_kernels`` says why).

Environment:
    CL_KERNELS_PORTABLE=1   no ``-march=native`` (for wheels that run on other machines)
    CL_KERNELS_NO_CPP=1     skip the C++ extensions altogether

Development build, from ``packages/cl-kernels``: ``python setup.py build_ext --inplace``.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
CPP_DIR = HERE / "src" / "cl_kernels" / "cpp"


def _extensions() -> list[Extension]:
    if os.environ.get("CL_KERNELS_NO_CPP", "0") == "1":
        return []
    try:
        import pybind11
    except ImportError:
        warnings.warn(
            "cl-kernels: pybind11 is not installed, so the C++ CPU kernels are not built; "
            "the PyTorch reference is used on CPU (pip install pybind11, then reinstall).",
            stacklevel=1,
        )
        return []
    exts = []
    for src in sorted(CPP_DIR.glob("*.cpp")):
        exts.append(
            Extension(
                f"cl_kernels._cpp_{src.stem}",
                sources=[str(src.relative_to(HERE))],
                include_dirs=[pybind11.get_include()],
                language="c++",
            )
        )
    return exts


class OptionalBuildExt(build_ext):
    """Builds each extension with the best flags that work, and skips (with a warning) any that
    cannot be compiled, so the pure-Python package always installs."""

    def _flag_sets(self) -> list[tuple[list[str], list[str]]]:
        if self.compiler.compiler_type == "msvc":
            return [(["/O2", "/openmp", "/std:c++17"], []), (["/O2", "/std:c++17"], [])]
        base = ["-O3", "-std=c++17", "-fvisibility=hidden"]
        native = [] if os.environ.get("CL_KERNELS_PORTABLE", "0") == "1" else ["-march=native"]
        sets = []
        if native:
            sets.append(([*base, *native, "-fopenmp"], ["-fopenmp"]))
        sets.append(([*base, "-fopenmp"], ["-fopenmp"]))
        sets.append((base, []))
        return sets

    def build_extension(self, ext: Extension) -> None:
        errors = []
        for compile_args, link_args in self._flag_sets():
            ext.extra_compile_args = compile_args
            ext.extra_link_args = link_args
            try:
                super().build_extension(ext)
                return
            except Exception as exc:  # compiler missing, flag unsupported, source error
                errors.append(f"{' '.join(compile_args)}: {exc}")
        msg = (
            f"cl-kernels: could not build the C++ extension {ext.name} "
            f"({'; '.join(errors)}); the PyTorch reference is used on CPU instead."
        )
        warnings.warn(msg, stacklevel=1)
        print(f"WARNING: {msg}", file=sys.stderr)

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # e.g. no compiler at all
            msg = f"cl-kernels: C++ extensions skipped ({exc}); the PyTorch reference is used."
            warnings.warn(msg, stacklevel=1)
            print(f"WARNING: {msg}", file=sys.stderr)


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
