"""Without a GPU the interpreter checks what the Triton kernels of ops 3-4 compute, not whether
they compile for one. Here they are compiled ahead of time for sm_80 and sm_90 (through PTX and
ptxas, no device needed), for the dtypes and flag combinations the wrappers launch, so that a
kernel that does not lower (types of loop-carried values, tl.dot constraints, shared memory) is
caught on the CPU. The compilation runs in a child process without TRITON_INTERPRET (Triton's
own library functions are interpreted ones once it is set). Skipped when Triton's CUDA toolchain
is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _cases() -> list[tuple[str, str, dict, dict]]:
    cases = []
    for dtype, lse, grad in (("*bf16", True, True), ("*fp32", True, False), ("*fp16", False, True)):
        sig = {"z_ptr": dtype, "z_stride": "i64", "grad_ptr": dtype, "grad_stride": "i64"}
        sig.update(labels_ptr="*i64", coef_ptr="*fp32", loss_ptr="*fp32", lse_ptr="*fp32", V="i32")
        consts = {"BLOCK_V": 4096, "COMPUTE_LSE": lse, "WRITE_GRAD": grad}
        cases.append(("wce", f"wce {dtype} lse={lse} grad={grad}", sig, consts))
    tiles = {"*bf16": (128, 128, 64), "*fp16": (64, 64, 32), "*fp32": (64, 64, 32)}
    for dtype, masked in (("*bf16", True), ("*fp16", False), ("*fp32", False)):
        sig = {n: dtype for n in ("a1_ptr", "b1_ptr", "a2_ptr", "b2_ptr")}
        sig.update(mask_ptr="*i1", bias_ptr=dtype, out_ptr=dtype)
        for name in ("M", "N", "K1", "K2", "s_a1m", "s_a1k", "s_b1k", "s_b1n", "s_a2m", "s_a2k"):
            sig[name] = "i32"
        for name in ("s_b2k", "s_b2n", "s_mm", "s_mn", "s_om", "s_on"):
            sig[name] = "i32"
        sig.update(scale="fp32", mscale="fp32")
        consts = {"HAS_SEG2": True, "HAS_MASK": masked, "HAS_BIAS": masked}
        bm, bn, bk = tiles[dtype]
        consts.update(IEEE=dtype == "*fp32", UPCAST=False, BM=bm, BN=bn, BK=bk, BK2=16, GROUP_M=8)
        cases.append(("mm", f"two_segment_mm {dtype} masked={masked}", sig, consts))
    return cases


def _compile_all() -> dict:
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from cl_kernels.triton.lora_linear import _two_segment_mm_kernel
    from cl_kernels.triton.weighted_ce import _wce_rows_kernel

    @triton.jit
    def probe(x_ptr):
        tl.store(x_ptr, tl.load(x_ptr) + 1.0)

    targets = [GPUTarget("cuda", 80, 32), GPUTarget("cuda", 90, 32)]
    try:
        triton.compile(ASTSource(probe, {"x_ptr": "*fp32"}, {}), target=targets[0])
    except Exception as exc:  # no CUDA backend or ptxas in this Triton install
        return {"skip": f"{type(exc).__name__}: {exc}"[:300]}
    kernels = {"wce": _wce_rows_kernel, "mm": _two_segment_mm_kernel}
    out = {}
    for kind, name, sig, consts in _cases():
        for target in targets:
            full = {**sig, **{k: "constexpr" for k in consts}}
            try:
                opts = {"num_warps": 8, "num_stages": 3} if consts.get("BM") == 128 else None
                src = ASTSource(kernels[kind], full, consts)
                k = triton.compile(src, target=target, options=opts)
                ptx = k.asm["ptx"]
                loads = "ld.global" in ptx or "cp.async" in ptx
                out[f"{name} sm{target.arch}"] = "ok" if loads else "no global loads"
            except Exception as exc:
                out[f"{name} sm{target.arch}"] = f"{type(exc).__name__}: {exc}"[:2000]
    return out


def test_triton_kernels_lower_for_cuda() -> None:
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, env=env, timeout=600
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1])
    if "skip" in result:
        pytest.skip(f"Triton cannot compile for CUDA here: {result['skip']}")
    assert len(result) == 2 * len(_cases())
    bad = {k: v for k, v in result.items() if v != "ok"}
    assert not bad, bad


if __name__ == "__main__":
    print(json.dumps(_compile_all()))
