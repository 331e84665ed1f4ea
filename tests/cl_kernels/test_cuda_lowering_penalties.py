"""Ahead-of-time CUDA compilation of the penalty and Fisher/EWC Triton kernels (the subspace and
fisher modules), as ``test_ops34_cuda_lowering.py`` does for ops 3-4: each kernel is compiled
for sm_90 (and, in the slow variant, sm_80, for every dtype the wrappers launch) through PTX and
ptxas, with the argument types, constexprs and block sizes the wrappers use, so that a kernel
that does not lower for a GPU is caught on the CPU. The compilation runs in a child process
without TRITON_INTERPRET. Skipped when Triton's CUDA toolchain is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

DTYPES = {"*fp32": "float32", "*bf16": "bfloat16", "*fp16": "float16"}


def _cases(dtype: str) -> list[tuple[str, dict, dict, tuple[int, int]]]:
    """(kernel, signature, constexprs, (num_warps, num_stages)) for one input dtype."""
    import triton.language as tl

    tl_dt = getattr(tl, DTYPES[dtype])
    i64, f32 = "*i64", "*fp32"
    table = {"index_ptr": i64, "start_ptr": i64, "numels_ptr": i64}
    out = []
    for l2sq in (False, True):
        orth = {"L2SQ": l2sq, "BLOCK_O": 32, "BLOCK_N": 16, "BLOCK_D": 64}
        sig = {"old_ptr": dtype, "new_ptr": dtype, "prod_ptr": f32, "part_ptr": f32}
        out.append(("subspace:_orth_fwd", {**sig, "meta_ptr": i64, "n_tiles": "i32"}, orth))
        sig = {"old_ptr": dtype, "prod_ptr": f32, "grad_ptr": f32, "meta_ptr": i64}
        out.append(("subspace:_orth_bwd", {**sig, "gout_ptr": f32}, orth))
    multi = {"DT": tl_dt, "BLOCK": 2048}
    out.append(("subspace:_sumsq", {"ptrs": i64, **table, "part_ptr": f32}, multi))
    sig = {"ptrs": i64, "out_ptrs": i64, **table, "scale_ptr": f32}
    out.append(("subspace:_scaled_copy", sig, multi))
    ab = {"BLOCK_R": 16, "BLOCK_D": 64}
    sig = {"a_ptr": dtype, "b_ptr": dtype, "prod_ptr": f32, "part_ptr": f32, "meta_ptr": i64}
    out.append(("subspace:_nlora_ab_fwd", sig, ab))
    sig = {"a_ptr": dtype, "b_ptr": dtype, "prod_ptr": f32, "ga_ptr": f32, "gb_ptr": f32}
    out.append(("subspace:_nlora_ab_bwd", {**sig, "meta_ptr": i64, "gout_ptr": f32}, ab))
    dw = {"BLOCK_R": 16, "BLOCK_M": 64, "BLOCK_N": 64}
    sig = {"a_ptr": dtype, "b_ptr": dtype, "part_ptr": f32, "meta_ptr": i64}
    out.append(("subspace:_nlora_dw_fwd", {**sig, "n_m": "i32", "n_n": "i32"}, dw))
    for name, grad in (("_nlora_dw_bwd_b", "gb_ptr"), ("_nlora_dw_bwd_a", "ga_ptr")):
        sig = {"a_ptr": dtype, "b_ptr": dtype, grad: f32, "meta_ptr": i64, "gout_ptr": f32}
        out.append((f"subspace:{name}", sig, dw))
    out.append(
        (
            "fisher:_accumulate",
            {"f_ptrs": i64, "g_ptrs": i64, **table, "c": "fp32"},
            {"FT": tl_dt, "GT": tl_dt, "BLOCK": 2048},
        )
    )
    out.append(
        (
            "fisher:_merge",
            {"new_ptrs": i64, "old_ptrs": i64, **table, "t": "fp32", "inv": "fp32"},
            {"NT": tl_dt, "OT": tl_dt, "BLOCK": 2048},
        )
    )
    ewc = {"PT": tl_dt, "AT": tl_dt, "FT": tl_dt, "BLOCK": 2048}
    sig = {"p_ptrs": i64, "a_ptrs": i64, "f_ptrs": i64, **table}
    out.append(("fisher:_ewc_value", {**sig, "part_ptr": f32}, ewc))
    out.append(("fisher:_ewc_grad", {**sig, "o_ptrs": i64, "scale_ptr": f32}, ewc))
    return out


def _compile_all(full: bool) -> dict:
    import importlib
    import inspect

    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    @triton.jit
    def probe(x_ptr):
        tl.store(x_ptr, tl.load(x_ptr) + 1.0)

    targets = [GPUTarget("cuda", 90, 32)] + ([GPUTarget("cuda", 80, 32)] if full else [])
    try:
        triton.compile(ASTSource(probe, {"x_ptr": "*fp32"}, {}), target=targets[0])
    except Exception as exc:  # no CUDA backend or ptxas in this Triton install
        return {"skip": f"{type(exc).__name__}: {exc}"[:300]}
    dtypes = list(DTYPES) if full else ["*bf16"]
    out = {}
    for dtype in dtypes:
        for where, sig, consts in _cases(dtype):
            module, _, name = where.partition(":")
            kernel = getattr(importlib.import_module(f"cl_kernels.triton.{module}"), name)
            params = list(inspect.signature(kernel.fn).parameters)
            full_sig = {p: ("constexpr" if p in consts else sig[p]) for p in params}
            label = f"{name} {dtype} {consts.get('L2SQ', '')}".strip()
            for target in targets:
                try:
                    src = ASTSource(kernel, full_sig, consts)
                    ptx = triton.compile(src, target=target).asm["ptx"]
                    ok = "ld.global" in ptx or "cp.async" in ptx
                    out[f"{label} sm{target.arch}"] = "ok" if ok else "no global loads"
                except Exception as exc:
                    out[f"{label} sm{target.arch}"] = f"{type(exc).__name__}: {exc}"[:2000]
    return out


def _run(full: bool) -> None:
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run(
        [sys.executable, __file__, "full" if full else "quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1])
    if "skip" in result:
        pytest.skip(f"Triton cannot compile for CUDA here: {result['skip']}")
    assert len(result) == len(_cases("*bf16")) * (6 if full else 1)
    bad = {k: v for k, v in result.items() if v != "ok"}
    assert not bad, bad


def test_penalty_kernels_lower_for_sm90_bf16() -> None:
    _run(full=False)


@pytest.mark.slow
def test_penalty_kernels_lower_for_sm80_sm90_every_dtype() -> None:
    _run(full=True)


if __name__ == "__main__":
    print(json.dumps(_compile_all(sys.argv[1:] == ["full"])))
