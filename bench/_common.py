"""Shared helpers of the benchmark scripts: timing, tables, and running a comparator elsewhere.

TorchRL's C++ extension loads only with the torch release it was built for, so the comparator rows run
in a separate interpreter, the one the environment variable ``FRL_TORCHRL_PYTHON`` names (the
``python`` of a venv with ``torch==2.14.1 torchrl==0.14.1``; there is no default). A bench script re-runs
itself there with ``--torchrl`` and reads back one JSON line; where the variable is unset or names no
file, the TorchRL rows are skipped with a message saying why.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import torch


def sync(device: str | torch.device = "cpu") -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], *, warmup: int = 3, iters: int = 50, repeats: int = 5,
              device: str = "cpu") -> float:
    """Median over ``repeats`` of the mean seconds per call of ``fn`` (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    sync(device)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        sync(device)
        samples.append((time.perf_counter() - t0) / iters)
    return statistics.median(samples)


def time_first_call(fn: Callable[[], object], device: str = "cpu") -> float:
    """Seconds taken by one call: the compile time when ``fn`` is a fresh compiled function."""
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def torchrl_python() -> str | None:
    """The TorchRL interpreter named by ``FRL_TORCHRL_PYTHON``, or None (with a message on stderr) without one."""
    path = os.environ.get("FRL_TORCHRL_PYTHON")
    if not path:
        print("[bench] FRL_TORCHRL_PYTHON is not set: the TorchRL rows are skipped (set it to the python of a "
              "venv with torch==2.14.1 torchrl==0.14.1 to run them)", file=sys.stderr)
        return None
    if not os.path.exists(path):
        print(f"[bench] FRL_TORCHRL_PYTHON={path} does not exist: the TorchRL rows are skipped", file=sys.stderr)
        return None
    return path


def run_comparator(script: str, args: Sequence[str] = (), timeout: float = 900) -> dict | None:
    """Run ``script --torchrl *args`` in the TorchRL interpreter; return the JSON it printed last."""
    python = torchrl_python()
    if python is None:  # torchrl_python said why
        return None
    env = dict(os.environ, PYTHONPATH="")
    proc = subprocess.run([python, script, "--torchrl", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if proc.returncode != 0:
        print(f"[bench] TorchRL comparator failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def emit(result: dict) -> None:
    """The comparator side: print one JSON line for `run_comparator`."""
    print(json.dumps(result), flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    def fmt(x):
        if isinstance(x, float):
            return f"{x:.4g}"
        return "-" if x is None else str(x)

    cells = [[fmt(x) for x in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def machine_line() -> str:
    return (f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"{os.cpu_count()} cpus, python {sys.version.split()[0]}")
