"""Benchmark frl.returns on the CPU against TorchRL and a compiled unrolled loop, in one run.

    python bench/returns.py            # every row (about 2-3 minutes on a 2-core machine)
    python bench/returns.py --quick    # two sizes only
    python bench/returns.py --quick --baseline /path/to/other/checkout --rounds 3
        # add that checkout's frl rows; alternate every source 3 times, keep each row's best

frl's rows: the CPU op (the fused C kernel of frl_triton/cpu, compiled on first use) and, for
comparison, the same calls with the C kernel switched off (the torch blocked scan used where no C
compiler is available). The cold first call (an empty kernel cache, so it includes the C build) is
measured at the end in a fresh process.

TorchRL lives in its own virtual environment: its rows run in a subprocess with the interpreter named
by FRL_TORCHRL_PYTHON (no default: skipped, with a message, when it is unset), on inputs built from
the same seed. Every timing is the best of several calls after a warm-up call, whose time is printed
separately as the first call (compile time, for the compiled loop). Bytes moved count each input read
once and each output written once (float32 values, 1-byte bools); GB/s is compared with the copy
bandwidth measured in this run (``dst.copy_(src)`` on 256 MiB buffers, read + write).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time

import torch

SIZES = [(64, 1000), (1024, 128), (4096, 256), (4096, 1024)]
GAMMA, LMBDA = 0.99, 0.95
# bytes per element: float32 inputs and outputs, bool flags
BYTES = {"gae": 3 * 4 + 2 + 2 * 4, "td_lambda": 2 * 4 + 2 + 4, "vtrace": 4 * 4 + 2 + 2 * 4}


def make_inputs(B: int, T: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    shape = (B, T, 1)  # TorchRL's layout: batch-major, time at -2
    out = {k: torch.randn(shape, generator=g) for k in ("reward", "value", "next_value", "log_rho")}
    out["done"] = torch.rand(shape, generator=g) < 0.01
    out["terminated"] = out["done"] & (torch.rand(shape, generator=g) < 0.5)
    return out


def timeit(fn, budget_s: float = 0.4, min_reps: int = 3, max_reps: int = 30) -> tuple[float, float]:
    """(first call seconds, best steady-state seconds)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times, start = [], time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, min(times)


def copy_bandwidth() -> float:
    src = torch.randn(64 * 1024 * 1024)  # 256 MiB: far larger than any cache
    dst = torch.empty_like(src)
    _, best = timeit(lambda: dst.copy_(src), budget_s=0.5)
    return 2 * src.numel() * 4 / best


# --- rows measured in this process ----------------------------------------------------------------


def frl_rows(sizes, compile_max_T: int, root: str | None = None, label: str = "frl (CPU op)") -> list[dict]:
    sys.path.insert(0, root or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import frl.returns as R

    rows = []
    for B, T in sizes:
        x = make_inputs(B, T)
        r, v, nv, lr, d, term = (x[k] for k in ("reward", "value", "next_value", "log_rho", "done",
                                                "terminated"))
        for op, fn in [
            # partial binds this size's tensors now (a lambda would read the loop variables when called).
            ("gae", functools.partial(R.gae, r, v, nv, d, term, gamma=GAMMA, lmbda=LMBDA)),
            ("td_lambda", functools.partial(R.td_lambda_return, r, nv, d, term, gamma=GAMMA, lmbda=LMBDA)),
            ("vtrace", functools.partial(R.vtrace, r, v, nv, lr, d, term, gamma=GAMMA)),
        ]:
            first, best = timeit(fn)
            rows.append(dict(op=op, B=B, T=T, impl=label, first=first, best=best))
        fallback = _torch_fallback_rows(R, B, T, (r, v, nv, lr, d, term), label)
        rows += fallback
        if T <= compile_max_T:
            torch._dynamo.reset()
            loop = torch.compile(_unrolled_gae)
            first, best = timeit(functools.partial(loop, r, v, nv, d, term))
            rows.append(dict(op="gae", B=B, T=T, impl="torch.compile unrolled loop", first=first, best=best))
    return rows


def _torch_fallback_rows(R, B, T, inputs, label) -> list[dict]:
    """The same calls with the compiled C kernels switched off: the torch blocked scan they replace."""
    try:
        from frl_triton.cpu import build
    except ImportError:  # a baseline checkout from before the C kernels
        return []
    if label != "frl (CPU op)" or build.library() is None:
        return []
    r, v, nv, lr, d, term = inputs
    saved = build._state["f32"]
    build._state["f32"] = {"lib": None, "path": None, "compiled": False}
    try:
        rows = []
        for op, fn in [
            # partial binds this size's tensors now (a lambda would read the loop variables when called).
            ("gae", functools.partial(R.gae, r, v, nv, d, term, gamma=GAMMA, lmbda=LMBDA)),
            ("td_lambda", functools.partial(R.td_lambda_return, r, nv, d, term, gamma=GAMMA, lmbda=LMBDA)),
            ("vtrace", functools.partial(R.vtrace, r, v, nv, lr, d, term, gamma=GAMMA)),
        ]:
            first, best = timeit(fn)
            rows.append(dict(op=op, B=B, T=T, impl="frl, torch scan (no C compiler)", first=first, best=best))
        return rows
    finally:
        build._state["f32"] = saved


_COLD = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
sys.path.insert(0, sys.argv[2])
import frl.returns as R
from frl_triton.cpu import build
g = torch.Generator().manual_seed(0)
B, T = 4096, 1024
r, v, nv, lr = (torch.randn(B, T, 1, generator=g) for _ in range(4))
d = torch.rand(B, T, 1, generator=g) < 0.01
out = {}
for op, fn in [("gae", lambda: R.gae(r, v, nv, d, gamma=0.99, lmbda=0.95)),
               ("td_lambda", lambda: R.td_lambda_return(r, nv, d, gamma=0.99, lmbda=0.95)),
               ("vtrace", lambda: R.vtrace(r, v, nv, lr, d, gamma=0.99))]:
    t0 = time.perf_counter()
    fn()
    out[op] = time.perf_counter() - t0
out["compiled"] = build.info()["compiled"]
print(json.dumps(out))
"""


def cold_first_calls(threads: int) -> dict | None:
    """First calls at 4096 x 1024 in a fresh process with an empty kernel cache (so gae's includes
    compiling the C kernels; td_lambda and vtrace then find them loaded)."""
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, FRL_CACHE_DIR=cache)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        proc = subprocess.run([sys.executable, "-c", _COLD, str(threads), root], capture_output=True, text=True,
                              env=env)
    if proc.returncode != 0:
        print("cold first call failed:\n" + proc.stderr[-2000:])
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _unrolled_gae(r, v, nv, d, term):
    """The textbook reverse loop; torch.compile unrolls it, so its graph (and compile time) grows with T."""
    delta = r + GAMMA * nv * (~term) - v
    coef = GAMMA * LMBDA * (~d)
    adv = torch.empty_like(delta)
    running = torch.zeros_like(delta[:, 0])
    for t in range(r.shape[1] - 1, -1, -1):
        running = delta[:, t] + coef[:, t] * running
        adv[:, t] = running
    return adv, adv + v


# --- rows measured in TorchRL's interpreter --------------------------------------------------------


def torchrl_worker(sizes) -> None:
    # TorchRL is installed only in FRL_TORCHRL_PYTHON's interpreter, where this function runs.
    from torchrl.objectives.value.functional import (  # pyright: ignore[reportMissingImports]
        generalized_advantage_estimate,
        td_lambda_return_estimate,
        vec_generalized_advantage_estimate,
        vtrace_advantage_estimate,
    )

    for B, T in sizes:
        x = make_inputs(B, T)
        r, v, nv, lr, d, term = (x[k] for k in ("reward", "value", "next_value", "log_rho", "done",
                                                "terminated"))
        for op, impl, fn in [
            ("gae", "TorchRL generalized_advantage_estimate",
             functools.partial(generalized_advantage_estimate, GAMMA, LMBDA, v, nv, r, d, term)),
            ("gae", "TorchRL vec_generalized_advantage_estimate",
             functools.partial(vec_generalized_advantage_estimate, GAMMA, LMBDA, v, nv, r, d, term)),
            ("td_lambda", "TorchRL td_lambda_return_estimate",
             functools.partial(td_lambda_return_estimate, GAMMA, LMBDA, nv, r, d, term)),
            ("vtrace", "TorchRL vtrace_advantage_estimate",
             functools.partial(vtrace_advantage_estimate, GAMMA, lr, torch.zeros_like(lr), v, nv, r, d, term)),
        ]:
            first, best = timeit(fn, budget_s=0.3)
            print(json.dumps(dict(op=op, B=B, T=T, impl=impl, first=first, best=best)), flush=True)


def baseline_rows(root: str, sizes, threads: int) -> list[dict]:
    """frl rows from another checkout (e.g. the previous commit), in a subprocess of this interpreter."""
    cmd = [sys.executable, os.path.abspath(__file__), "--frl-worker", os.path.abspath(root), "--threads",
           str(threads), "--sizes", json.dumps(sizes)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print("baseline rows failed:\n" + proc.stderr[-2000:])
        return []
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def torchrl_rows(sizes, threads: int) -> tuple[list[dict], str]:
    python = os.environ.get("FRL_TORCHRL_PYTHON")
    if not python:
        return [], ("TorchRL rows skipped: FRL_TORCHRL_PYTHON is not set (set it to the python of a venv with "
                    "torchrl to run them)")
    if not os.path.exists(python):
        return [], f"TorchRL rows skipped: FRL_TORCHRL_PYTHON={python} does not exist"
    cmd = [python, os.path.abspath(__file__), "--torchrl-worker", "--threads", str(threads),
           "--sizes", json.dumps(sizes)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return [], "TorchRL rows failed:\n" + proc.stderr[-2000:]
    version = subprocess.run([python, "-c", "import torch, torchrl; print(torch.__version__, torchrl.__version__)"],
                             capture_output=True, text=True).stdout.split()
    note = f"TorchRL {version[1]} on torch {version[0]} ({python})" if len(version) == 2 else ""
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")], note


# --- table ----------------------------------------------------------------------------------------


def print_table(rows: list[dict], bandwidth: float) -> None:
    print(f"copy bandwidth (measured): {bandwidth / 1e9:.1f} GB/s")
    head = f"{'op':<10}{'B x T':>12}  {'implementation':<44}{'first call':>12}{'best':>11}" \
           f"{'GB/s':>8}{'% copy bw':>10}{'x floor':>8}{'frl speed-up':>13}"
    print(head)
    print("-" * len(head))
    for op in ("gae", "td_lambda", "vtrace"):
        for B, T in sorted({(r["B"], r["T"]) for r in rows}, key=lambda s: s[0] * s[1]):
            group = [r for r in rows if r["op"] == op and (r["B"], r["T"]) == (B, T)]
            frl = next((r for r in group if r["impl"] == "frl (CPU op)"), None)
            for r in group:
                nbytes = BYTES[op] * B * T
                gbs = nbytes / r["best"] / 1e9
                floor = nbytes / bandwidth
                speed = f"{r['best'] / frl['best']:.1f}x" if frl and r is not frl else ""
                first = r["first"]
                first_s = f"{first:.2f} s" if first >= 1 else f"{first * 1e3:.1f} ms"
                print(f"{op:<10}{f'{B} x {T}':>12}  {r['impl']:<44}{first_s:>12}"
                      f"{r['best'] * 1e3:>8.2f} ms{gbs:>8.1f}{100 * gbs * 1e9 / bandwidth:>9.0f}%"
                      f"{r['best'] / floor:>8.1f}{speed:>13}")
        print()
    print("frl (C kernel) vs TorchRL's fastest implementation of the same estimator, same run:")
    for op in ("gae", "td_lambda", "vtrace"):
        for B, T in sorted({(r["B"], r["T"]) for r in rows}, key=lambda s: s[0] * s[1]):
            group = [r for r in rows if r["op"] == op and (r["B"], r["T"]) == (B, T)]
            frl = next((r for r in group if r["impl"] == "frl (CPU op)"), None)
            trl = [r for r in group if r["impl"].startswith("TorchRL")]
            if frl and trl:
                best = min(trl, key=lambda r: r["best"])
                floor = BYTES[op] * B * T / bandwidth
                print(f"  {op:<10}{f'{B} x {T}':>12}  frl {frl['best'] * 1e3:7.2f} ms  "
                      f"{frl['best'] / floor:4.1f}x the bandwidth floor  "
                      f"{best['best'] / frl['best']:6.1f}x faster than {best['impl'].split()[1]}")
    print()


def _best_over_rounds(rows: list[dict]) -> list[dict]:
    merged: dict = {}
    for r in rows:
        key = (r["op"], r["B"], r["T"], r["impl"])
        if key in merged:
            merged[key]["best"] = min(merged[key]["best"], r["best"])
        else:
            merged[key] = dict(r)
    return list(merged.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="only (1024, 128) and (4096, 256)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads in both processes (1: robust on a shared machine)")
    p.add_argument("--compile-max-T", type=int, default=128,
                   help="time the compiled unrolled loop only up to this T (its compile time grows with T)")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate all sources of rows this many times, keeping each row's best time")
    p.add_argument("--baseline", default=None, metavar="ROOT",
                   help="also time the frl of another checkout (its rows run in a subprocess)")
    p.add_argument("--torchrl-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--frl-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--sizes", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sizes = json.loads(args.sizes) if args.sizes else ([(1024, 128), (4096, 256)] if args.quick else SIZES)
    if args.torchrl_worker:
        torchrl_worker(sizes)
        return
    if args.frl_worker:
        for row in frl_rows(sizes, 0, root=args.frl_worker, label="frl (CPU op), baseline checkout"):
            print(json.dumps(row), flush=True)
        return
    t0 = time.perf_counter()
    # On a shared machine the load changes from second to second: every source of rows runs once per
    # round, the rounds alternate, and each row keeps its best time over the rounds (and the first
    # call of round 1, the only true first call of its process for this process's rows).
    rows, note = [], ""
    bandwidth = 0.0
    for i in range(args.rounds):
        bandwidth = max(bandwidth, copy_bandwidth())
        rows += frl_rows(sizes, args.compile_max_T if i == 0 else 0)
        if args.baseline:
            rows += baseline_rows(args.baseline, sizes, args.threads)
        trl, note = torchrl_rows(sizes, args.threads)
        rows += trl
    rows = _best_over_rounds(rows)
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cores, "
          f"load average {load:.1f} at the end (timings on a loaded machine are inflated); {note}")
    print("speed-up column: that row's time over frl's (how many times faster frl is); "
          "x floor: time over the bandwidth floor\n")
    print_table(rows, bandwidth)
    cold = cold_first_calls(args.threads)
    if cold:
        print(f"first calls at 4096 x 1024 in a fresh process with an empty kernel cache: gae "
              f"{cold['gae']:.2f} s ({'includes' if cold['compiled'] else 'did NOT include'} compiling the C "
              f"kernels), then td_lambda {cold['td_lambda'] * 1e3:.1f} ms, vtrace {cold['vtrace'] * 1e3:.1f} ms")
    print(f"total bench time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
