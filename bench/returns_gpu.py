"""Benchmark frl's Triton return kernels on a CUDA GPU against TorchRL and a compiled loop, in one run.

    python bench/returns_gpu.py            # on a machine with a CUDA GPU (H100: the issue's targets)
    python bench/returns_gpu.py --smoke    # no GPU: tiny sizes on the CPU in Triton's interpreter,
                                           # to check the script itself runs (its times mean nothing)

Rows, for each (B, T) of bench/returns.py and B x T float32 inputs in TorchRL's layout ``[B, T, 1]``:

- ``frl triton``: GAE, TD(lambda) and V-trace through ``frl.returns`` (or, where frl's other
  dependencies such as tensordict are not installed, the same Triton ops called directly);
- ``frl triton, compiled vmapped step``: GAE inside ``torch.compile(fullgraph=True)`` of a function
  vmapped over an ensemble of 8 members of B / 8 sequences each, the same data as the row above: the
  issue asks that the kernel be no slower there than alone;
- ``torch.compile unrolled loop`` (up to ``--compile-max-T``; its compile time grows with T);
- TorchRL's ``vec_generalized_advantage_estimate`` and ``generalized_advantage_estimate`` on the GPU,
  when torchrl imports (on a bare GPU machine, install its wheel there first).

Bytes moved count each input read once and each output written once; GB/s is compared with the
device-to-device copy bandwidth measured in this run (``dst.copy_(src)`` on 1 GiB, read + write).
Every time is the median over repeats of the mean over many calls, after warm-up calls; the first
call (compile time for the compiled rows) is printed separately.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help="CPU tensors in Triton's interpreter, tiny sizes: checks the script, not speed")
    p.add_argument("--compile-max-T", type=int, default=256,
                   help="time the compiled unrolled loop only up to this T")
    p.add_argument("--members", type=int, default=8, help="ensemble size of the compiled vmapped step")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.smoke:  # must be set before triton is imported
        os.environ["TRITON_INTERPRET"] = "1"
    import torch

    from bench._common import time_call, time_first_call
    from bench.returns import BYTES, GAMMA, LMBDA, SIZES, _unrolled_gae, make_inputs

    if args.smoke:
        device, sizes, reps = "cpu", [(16, 40)], dict(warmup=1, iters=1, repeats=1)
    elif torch.cuda.is_available():
        device, sizes, reps = "cuda", SIZES, dict(warmup=3, iters=50, repeats=5)
    else:
        sys.exit("bench/returns_gpu.py: no CUDA GPU here; run it on a GPU machine, or pass --smoke")

    estimators = _estimators(torch, device)
    torchrl = _torchrl()
    bandwidth = _copy_bandwidth(torch, device, time_call, reps)
    rows = []

    def row(op, B, T, impl, fn, compiled=False):
        first = time_first_call(fn, device) if compiled else None
        best = time_call(fn, device=device, **reps)
        rows.append(dict(op=op, B=B, T=T, impl=impl, best=best, first=first))

    for B, T in sizes:
        x = {k: t.to(device) for k, t in make_inputs(B, T).items()}
        r, v, nv, lr, d, term = (x[k] for k in ("reward", "value", "next_value", "log_rho", "done", "terminated"))
        # partial binds this size's tensors now (a lambda would read the loop variables when called).
        row("gae", B, T, estimators.label, functools.partial(estimators.gae, r, v, nv, d, term))
        row("td_lambda", B, T, estimators.label, functools.partial(estimators.td_lambda, r, nv, d, term))
        row("vtrace", B, T, estimators.label, functools.partial(estimators.vtrace, r, v, nv, lr, d, term))

        E = args.members
        ens = [t.reshape(E, B // E, T, 1) for t in (r, v, nv, d, term)]

        def step(r, v, nv, d, term):
            return estimators.gae(r, v, nv, d, term)

        if args.smoke:  # interpreted kernels cannot run inside a compiled graph: vmap alone
            vstep = torch.vmap(step)
            row("gae", B, T, f"{estimators.label}, vmapped step ({E} members)", functools.partial(vstep, *ens))
            continue
        torch._dynamo.reset()
        vstep = torch.compile(torch.vmap(step), fullgraph=True)
        row("gae", B, T, f"{estimators.label}, compiled vmapped step ({E} members)",
            functools.partial(vstep, *ens), compiled=True)
        if T <= args.compile_max_T:
            torch._dynamo.reset()
            loop = torch.compile(_unrolled_gae)
            row("gae", B, T, "torch.compile unrolled loop", functools.partial(loop, r, v, nv, d, term),
                compiled=True)
        if torchrl is not None:
            gae_loop, gae_vec = torchrl
            kw = dict(gamma=GAMMA, lmbda=LMBDA, state_value=v, next_state_value=nv, reward=r, done=d,
                      terminated=term, time_dim=-2)
            row("gae", B, T, "TorchRL vec_generalized_advantage_estimate", functools.partial(gae_vec, **kw))
            row("gae", B, T, "TorchRL generalized_advantage_estimate", functools.partial(gae_loop, **kw))

    where = torch.cuda.get_device_name() if device == 'cuda' else 'cpu (Triton interpreter, smoke run)'
    print(f"torch {torch.__version__}, device {where}; copy bandwidth {bandwidth / 1e9:.0f} GB/s; "
          f"TorchRL {'found' if torchrl else 'not importable: rows skipped'}")
    _print_table(rows, bandwidth, BYTES, estimators.label)


@dataclass
class _Estimators:
    """The three estimators with the benchmark's coefficients, and the label of their rows."""

    gae: Callable
    td_lambda: Callable
    vtrace: Callable
    label: str


def _estimators(torch, device: str) -> _Estimators:
    """Through frl.returns on a GPU where frl imports; else the Triton ops called as frl.returns would.

    On the CPU (the smoke run) frl.returns would take its C kernels, so the ops are called directly.
    """
    from bench.returns import GAMMA, LMBDA

    R = None
    if device == "cuda":
        try:
            import frl.returns as R
        except ImportError:  # frl's other dependencies (tensordict, ...) are not installed here
            pass
    if R is not None:
        return _Estimators(
            lambda r, v, nv, d, term: R.gae(r, v, nv, d, term, gamma=GAMMA, lmbda=LMBDA),
            lambda r, nv, d, term: R.td_lambda_return(r, nv, d, term, gamma=GAMMA, lmbda=LMBDA),
            lambda r, v, nv, lr, d, term: R.vtrace(r, v, nv, lr, d, term, gamma=GAMMA),
            "frl triton (frl.returns)")
    from frl_triton.gae.kernel import gae_triton
    from frl_triton.td_lambda.kernel import td_lambda_triton
    from frl_triton.vtrace.kernel import vtrace_triton

    def coef(x, like):
        return torch.tensor(x, device=like.device).expand(like.shape)

    return _Estimators(
        lambda r, v, nv, d, term: gae_triton(r, v, nv, d, term, coef(GAMMA, r), coef(LMBDA, r), -2),
        lambda r, nv, d, term: td_lambda_triton(r, nv, d, term, coef(GAMMA, r), coef(LMBDA, r), -2),
        lambda r, v, nv, lr, d, term: vtrace_triton(r, v, nv, lr, d, term, coef(GAMMA, r), 1.0, 1.0, -2),
        "frl triton ops")


def _torchrl():
    try:
        # Optional: absent where torchrl is not installed (the ImportError below skips its rows).
        from torchrl.objectives.value.functional import (  # pyright: ignore[reportMissingImports]
            generalized_advantage_estimate,
            vec_generalized_advantage_estimate,
        )
    except ImportError:
        return None
    return generalized_advantage_estimate, vec_generalized_advantage_estimate


def _copy_bandwidth(torch, device, time_call, reps) -> float:
    n = (256 if device == "cuda" else 4) * 1024 * 1024  # 1 GiB of float32 on a GPU
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    return 2 * n * 4 / time_call(lambda: dst.copy_(src), device=device, **reps)


def _print_table(rows, bandwidth, BYTES, frl_label) -> None:
    print(f"\n{'op':<10} {'B x T':>12} {'implementation':<58} {'time':>10} {'GB/s':>7} {'% copy':>7} "
          f"{'frl faster':>10} {'first call':>10}")
    frl = {(r["op"], r["B"], r["T"]): r["best"] for r in rows if r["impl"] == frl_label}
    for r in rows:
        nbytes = r["B"] * r["T"] * BYTES[r["op"]]
        gbs = nbytes / r["best"]
        ratio = r["best"] / frl[(r["op"], r["B"], r["T"])]
        first = f"{r['first']:.2f} s" if r["first"] is not None else ""
        print(f"{r['op']:<10} {str(r['B']) + ' x ' + str(r['T']):>12} {r['impl']:<58} "
              f"{r['best'] * 1e3:>8.3f}ms {gbs / 1e9:>7.1f} {100 * gbs / bandwidth:>6.0f}% {ratio:>9.1f}x {first:>10}")


if __name__ == "__main__":
    main()
