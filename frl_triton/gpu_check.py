"""Compile every frl Triton kernel for a CUDA GPU without having one: ``python -m frl_triton.gpu_check``.

Triton's interpreter (``TRITON_INTERPRET=1``) checks what the kernels compute, but not that they
compile: a type mismatch in a loop-carried value, an unsupported op or a shared-memory overflow only
shows up in Triton's GPU compiler. Triton ships that compiler (and NVIDIA's ``ptxas``) in its wheel,
so this module runs it on a machine with no GPU:

1. each op's launcher runs on small CPU tensors with ``wrap_triton`` replaced by a recorder, so the
   kernels see exactly the argument dtypes, integer arguments and constexprs a real launch passes;
2. each recorded launch is compiled down to a cubin for the given compute capabilities;
3. it prints, per kernel, the registers per thread, spilled bytes and shared memory that ``ptxas``
   reports: what decides occupancy on the GPU.

It must run without ``TRITON_INTERPRET=1`` (under it, ``@triton.jit`` makes interpreter functions that
cannot be compiled); the test ``tests/triton/test_gpu_compile.py`` runs it in a subprocess.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # triton is imported where a kernel is compiled, not at import time
    from triton.runtime.jit import JITFunction

# torch dtype -> Triton's name for a pointer's element type or a scalar argument's type.
_TRITON_TYPE = {
    torch.float32: "fp32", torch.float64: "fp64", torch.bfloat16: "bf16", torch.float16: "fp16",
    torch.bool: "i1", torch.int8: "i8", torch.uint8: "u8", torch.int32: "i32", torch.int64: "i64",
}
# Keyword arguments of a launch that are compiler options, not kernel parameters.
_LAUNCH_OPTIONS = ("num_warps", "num_stages", "num_ctas")


@dataclass
class Launch:
    """One recorded kernel launch: the kernel, its positional and keyword arguments."""

    name: str
    kernel: JITFunction
    args: tuple
    kwargs: dict


class _Recorder:
    """Stands in for ``torch.library.wrap_triton``: ``rec(kernel)[grid](*args)`` records, runs nothing."""

    def __init__(self) -> None:
        self.launches: list[tuple[JITFunction, tuple, dict]] = []

    def __call__(self, kernel: JITFunction):
        recorder = self

        class _Grid:
            def __getitem__(self, grid):
                return lambda *args, **kwargs: recorder.launches.append((kernel, args, kwargs))

        return _Grid()


@contextlib.contextmanager
def _recording() -> Iterator[_Recorder]:
    rec = _Recorder()
    saved = torch.library.wrap_triton
    torch.library.wrap_triton = rec
    try:
        yield rec
    finally:
        torch.library.wrap_triton = saved


def _return_inputs(dtype: torch.dtype, vtrace: bool = False) -> tuple:
    """Small batch-major inputs of ``frl.returns``'s ops: ``[4, 40, 1]`` (40 > one 32-step chunk)."""
    shape = (4, 40, 1)
    acc = torch.promote_types(dtype, torch.float32)
    r, v, nv, lr = (torch.zeros(shape, dtype=dtype) for _ in range(4))
    done = torch.zeros(shape, dtype=torch.bool)
    gamma = torch.full(shape, 0.99, dtype=acc)
    lmbda = torch.tensor(0.95, dtype=acc).expand(shape)  # scalar coefficients arrive as stride-0 views
    if vtrace:
        return r, v, nv, lr, done, done, gamma, 1.0, 1.0, -2
    return r, v, nv, done, done, gamma, lmbda, -2


def record_launches() -> list[Launch]:
    """Run every op's launcher on CPU tensors and return the kernel launches it makes."""
    from frl_triton.gae.kernel import gae_triton
    from frl_triton.sumtree import cpu as sumtree_cpu
    from frl_triton.sumtree.op import launch_sample, launch_update
    from frl_triton.td_lambda.kernel import td_lambda_triton
    from frl_triton.vtrace.kernel import vtrace_triton

    calls: list[tuple[str, Callable[[_Recorder], object]]] = []
    for dtype in (torch.float32, torch.bfloat16, torch.float64):
        tag = _TRITON_TYPE[dtype]
        calls += [
            (f"gae[{tag}]", lambda rec, d=dtype: gae_triton(*_return_inputs(d))),
            (f"td_lambda[{tag}]", lambda rec, d=dtype: td_lambda_triton(
                *(_return_inputs(d)[i] for i in (0, 2, 3, 4, 5, 6, 7)))),
            (f"vtrace[{tag}]", lambda rec, d=dtype: vtrace_triton(*_return_inputs(d, vtrace=True))),
        ]
    capacity, arity = 1000, 32
    nodes = sumtree_cpu.layout(capacity, arity).num_nodes
    tree = torch.zeros(nodes, dtype=torch.float64)
    index = torch.arange(8)
    calls += [
        ("sumtree_sample", lambda rec: launch_sample(tree, torch.rand(8, dtype=torch.float64), capacity, arity, rec)),
        ("sumtree_update", lambda rec: launch_update(tree.clone(), tree.clone(), index, torch.ones(8), capacity,
                                                     arity, rec)),
    ]
    launches = []
    for name, call in calls:
        with _recording() as rec:
            call(rec)
        if not rec.launches:
            raise RuntimeError(f"frl_triton.gpu_check: {name} launched no kernel")
        kernel, args, kwargs = rec.launches[0]  # per-level update launches differ only in integers
        launches.append(Launch(name, kernel, args, kwargs))
    return launches


def _signature(launch: Launch) -> tuple[dict, dict, dict]:
    """Triton's ``(signature, constexprs, options)`` for a recorded launch."""
    fn = launch.kernel
    names = list(fn.arg_names)
    constexpr_names = {names[i] for i in fn.constexprs}
    options = {k: v for k, v in launch.kwargs.items() if k in _LAUNCH_OPTIONS}
    # Positional arguments fill the first parameters; the rest (constexprs, options) come by keyword.
    values = dict(zip(names[:len(launch.args)], launch.args, strict=True))
    values.update({k: v for k, v in launch.kwargs.items() if k not in _LAUNCH_OPTIONS})
    signature, constexprs = {}, {}
    for name in names:
        value = values[name]
        if name in constexpr_names:
            signature[name], constexprs[name] = "constexpr", value
        elif isinstance(value, torch.Tensor):
            signature[name] = "*" + _TRITON_TYPE[value.dtype]
        elif isinstance(value, bool):
            signature[name] = "i1"
        elif isinstance(value, int):
            signature[name] = "i32" if -2**31 <= value < 2**31 else "i64"
        elif isinstance(value, float):
            signature[name] = "fp32"
        else:
            raise TypeError(f"frl_triton.gpu_check: {launch.name}: argument {name} has type "
                            f"{type(value).__name__}, expected a tensor, int or float")
    return signature, constexprs, options


@dataclass
class Compiled:
    """What ``ptxas`` reports for one kernel compiled for one GPU."""

    name: str
    arch: int
    registers: int
    spilled_bytes: int
    shared_bytes: int


def _ptxas_report(ptx: str, arch: int) -> tuple[int, int]:
    """``(registers per thread, spill-store bytes)`` from ``ptxas -v`` on ``ptx`` (Triton's own ptxas).

    A compiled kernel only learns these from the CUDA driver when it is loaded; without a GPU,
    running the assembler again in verbose mode is the way to read them.
    """
    import re
    import subprocess
    import tempfile

    from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        cmd = [get_ptxas(arch).path, "-v", f"--gpu-name={sm_arch_from_capability(arch)}", path,
               "-o", os.path.join(tmp, "kernel.cubin")]
        report = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    registers = re.search(r"Used (\d+) registers", report)
    spills = re.search(r"(\d+) bytes spill stores", report)
    return int(registers.group(1)) if registers else 0, int(spills.group(1)) if spills else 0


def compile_for(launch: Launch, arch: int) -> Compiled:
    """Compile ``launch``'s kernel to a cubin for compute capability ``arch`` (e.g. 90 for H100)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature, constexprs, options = _signature(launch)
    source = ASTSource(fn=launch.kernel, signature=signature, constexprs=constexprs)
    kernel = triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options)
    if not kernel.asm.get("cubin"):
        raise RuntimeError(f"frl_triton.gpu_check: {launch.name} produced no cubin for sm_{arch}")
    registers, spilled = _ptxas_report(kernel.asm["ptx"], arch)
    return Compiled(launch.name, arch, registers, spilled, int(kernel.metadata.shared))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--arch", type=int, nargs="+", default=[90, 80],
                        help="compute capabilities to compile for (90: H100/H200, 80: A100)")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("frl_triton.gpu_check: unset TRITON_INTERPRET (interpreter kernels cannot be compiled)",
              file=sys.stderr)
        return 2
    launches = record_launches()
    print(f"{'kernel':<18} {'arch':>5} {'regs':>5} {'spill B':>8} {'shared B':>9}")
    for launch in launches:
        for arch in args.arch:
            c = compile_for(launch, arch)
            print(f"{c.name:<18} {'sm_' + str(c.arch):>5} {c.registers:>5} {c.spilled_bytes:>8} {c.shared_bytes:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
