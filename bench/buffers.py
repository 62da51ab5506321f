"""Replay-buffer benchmark: frl against TorchRL, in one run, at capacity 1e6 with Pendulum-sized items.

Rows: add 10k rows; sample 256; sample 256 + update 256 priorities; uniform sample 256. frl is timed
eagerly and under torch.compile(fullgraph=True) (compile time reported separately); TorchRL's
``TensorDictPrioritizedReplayBuffer`` / ``TensorDictReplayBuffer`` on ``LazyTensorStorage`` run in a
subprocess with TorchRL's own interpreter (``FRL_TORCHRL_PYTHON``, see `bench._common.torchrl_python`),
since TorchRL pins its own torch. Both processes use the same thread count.

    python -m bench.buffers                       # the table
    python -m bench.buffers --memmap 10000000     # RSS of a 10M-item memmap buffer while adding/sampling
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

import torch
from tensordict import TensorDict

CAPACITY = 1_000_000
ADD = 10_000
BATCH = 256


def pendulum(n: int, seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    done = torch.rand(n, 1, generator=g) < 0.005
    return TensorDict({
        "observation": torch.randn(n, 3, generator=g),
        "action": torch.randn(n, 1, generator=g),
        "next": {"observation": torch.randn(n, 3, generator=g), "reward": torch.randn(n, 1, generator=g),
                 "done": done, "terminated": done.clone(), "truncated": torch.zeros(n, 1, dtype=torch.bool)},
    }, batch_size=[n])


def timeit(fn, reps: int, warmup: int = 5) -> float:
    """Median milliseconds per call over 5 blocks of ``reps`` calls, after ``warmup`` calls."""
    for i in range(warmup):
        fn(i)
    blocks = []
    for b in range(5):
        t = time.perf_counter()
        for i in range(reps):
            fn(warmup + b * reps + i)
        blocks.append((time.perf_counter() - t) / reps * 1e3)
    return sorted(blocks)[2]


# --- TorchRL rows (run in TorchRL's interpreter) ----------------------------------------------------

def torchrl_rows(threads: int) -> dict:
    torch.set_num_threads(threads)
    # TorchRL runs under its own interpreter (it pins its own torch), so the checker cannot see it here.
    from torchrl.data import (  # pyright: ignore[reportMissingImports]
        LazyTensorStorage,
        TensorDictPrioritizedReplayBuffer,
        TensorDictReplayBuffer,
    )

    data, chunk = pendulum(CAPACITY), pendulum(ADD, 1)
    out = {}
    rb = TensorDictReplayBuffer(storage=LazyTensorStorage(CAPACITY), batch_size=BATCH)
    rb.extend(data)
    out["uniform add 10k"] = timeit(lambda i: rb.extend(chunk), 10, 2)
    out["uniform sample 256"] = timeit(lambda i: rb.sample(), 200)
    prb = TensorDictPrioritizedReplayBuffer(alpha=0.6, beta=0.4, storage=LazyTensorStorage(CAPACITY),
                                            batch_size=BATCH, priority_key="td_error")
    prb.extend(data)
    out["prioritized add 10k"] = timeit(lambda i: prb.extend(chunk), 10, 2)
    out["prioritized sample 256"] = timeit(lambda i: prb.sample(), 200)
    prio = torch.rand(BATCH) + 0.01

    def sample_update(i):
        s = prb.sample()
        prb.update_priority(s["index"], prio)

    out["prioritized sample 256 + update 256"] = timeit(sample_update, 200)
    return out


# --- frl rows -----------------------------------------------------------------------------------

def frl_rows(threads: int) -> tuple[dict, dict]:
    torch.set_num_threads(threads)
    import frl.buffers as fb
    from frl import random as fr

    data, chunk = pendulum(CAPACITY), pendulum(ADD, 1)
    keys = fr.split(fr.key(0), 4096)
    prio = torch.rand(BATCH) + 0.01
    out = {}

    ubuf = fb.uniform(CAPACITY)
    pbuf = fb.prioritized(CAPACITY, alpha=0.6, beta=0.4)
    box = {"u": ubuf.add(ubuf.init(data[0]), data), "p": pbuf.add(pbuf.init(data[0]), data)}

    def u_add(i):
        box["u"] = ubuf.add(box["u"], chunk)

    def u_sample(i):
        return ubuf.sample(box["u"], keys[i % 4096], BATCH)

    def p_add(i):
        box["p"] = pbuf.add(box["p"], chunk)

    def p_sample(i):
        return pbuf.sample(box["p"], keys[i % 4096], BATCH)

    def p_step(state, key, priority):
        batch, info = pbuf.sample(state, key, BATCH)
        return batch, info, pbuf.update_priorities(state, info["index"], priority)

    def p_sample_update(i):
        _, _, box["p"] = p_step(box["p"], keys[i % 4096], prio)

    out["uniform add 10k", "eager"] = timeit(u_add, 10, 2)
    out["uniform sample 256", "eager"] = timeit(u_sample, 200)
    out["prioritized add 10k", "eager"] = timeit(p_add, 10, 2)
    out["prioritized sample 256", "eager"] = timeit(p_sample, 200)
    out["prioritized sample 256 + update 256", "eager"] = timeit(p_sample_update, 200)

    compile_s = {}

    cu_add = torch.compile(lambda s, b: ubuf.add(s, b), fullgraph=True)
    cu_sample = torch.compile(lambda s, k: ubuf.sample(s, k, BATCH), fullgraph=True)
    cp_add = torch.compile(lambda s, b: pbuf.add(s, b), fullgraph=True)
    cp_sample = torch.compile(lambda s, k: pbuf.sample(s, k, BATCH), fullgraph=True)
    cp_step = torch.compile(p_step, fullgraph=True)
    for name, first in [
        ("uniform add 10k", lambda: box.__setitem__("u", cu_add(box["u"], chunk))),
        ("uniform sample 256", lambda: cu_sample(box["u"], keys[0])),
        ("prioritized add 10k", lambda: box.__setitem__("p", cp_add(box["p"], chunk))),
        ("prioritized sample 256", lambda: cp_sample(box["p"], keys[0])),
        ("prioritized sample 256 + update 256", lambda: cp_step(box["p"], keys[0], prio)),
    ]:
        t = time.perf_counter()
        first()
        compile_s[name] = time.perf_counter() - t

    def cp_sample_update(i):
        _, _, box["p"] = cp_step(box["p"], keys[i % 4096], prio)

    out["uniform add 10k", "compiled"] = timeit(lambda i: box.__setitem__("u", cu_add(box["u"], chunk)), 10, 2)
    out["uniform sample 256", "compiled"] = timeit(lambda i: cu_sample(box["u"], keys[i % 4096]), 200)
    out["prioritized add 10k", "compiled"] = timeit(lambda i: box.__setitem__("p", cp_add(box["p"], chunk)), 10, 2)
    out["prioritized sample 256", "compiled"] = timeit(lambda i: cp_sample(box["p"], keys[i % 4096]), 200)
    out["prioritized sample 256 + update 256", "compiled"] = timeit(cp_sample_update, 200)
    return out, compile_s


def table(threads: int) -> None:
    from bench._common import torchrl_python  # here, not at the top: the TorchRL worker runs this file alone

    py = torchrl_python()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trl, trl_note = {}, ""
    if py is not None:
        # Run TorchRL first and alone, so the two never compete for the cores.
        res = subprocess.run([py, os.path.abspath(__file__), "--torchrl-worker", "--threads", str(threads)],
                             capture_output=True, text=True, cwd=here)
        if res.returncode == 0:
            trl = json.loads(res.stdout.strip().splitlines()[-1])
        else:
            trl_note = "TorchRL failed: " + res.stderr.strip().splitlines()[-1]
    else:
        trl_note = "TorchRL interpreter not found (set FRL_TORCHRL_PYTHON): its column is empty"
    frl, compile_s = frl_rows(threads)
    print(f"capacity {CAPACITY:,}, Pendulum-sized items, CPU, torch.set_num_threads({threads}), "
          f"torch {torch.__version__}; milliseconds per call (median of 5 blocks)")
    if trl_note:
        print(trl_note)
    head = f"{'operation':40s} {'TorchRL':>9s} {'frl eager':>10s} {'frl compiled':>13s} {'TorchRL/eager':>14s} " \
           f"{'TorchRL/compiled':>17s} {'compile s':>10s}"
    print(head)
    print("-" * len(head))
    for name in ["uniform add 10k", "uniform sample 256", "prioritized add 10k", "prioritized sample 256",
                 "prioritized sample 256 + update 256"]:
        t = trl.get(name, float("nan"))
        e, c = frl[name, "eager"], frl[name, "compiled"]
        print(f"{name:40s} {t:9.3f} {e:10.3f} {c:13.3f} {t / e:13.2f}x {t / c:16.2f}x {compile_s[name]:10.1f}")
    print("ratios > 1: frl is faster.")


# --- memory of a memmap buffer ------------------------------------------------------------------------

def rss_mib() -> tuple[float, float]:
    """(RssAnon, RssFile) of this process in MiB, from /proc/self/status."""
    vals = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon", "RssFile", "VmRSS")):
                k, v = line.split(":")
                vals[k] = int(v.split()[0]) / 1024
    return vals.get("RssAnon", float("nan")), vals.get("RssFile", float("nan"))


def memmap_mode(n: int, threads: int, kind: str) -> None:
    torch.set_num_threads(threads)
    import frl.buffers as fb

    buf = fb.prioritized(n) if kind == "prioritized" else fb.uniform(n)
    chunk = pendulum(100_000, 1)
    peak = [0.0, 0.0]

    def note():
        a, f = rss_mib()
        peak[0], peak[1] = max(peak[0], a), max(peak[1], f)
        return a, f

    with tempfile.TemporaryDirectory(dir=os.environ.get("FRL_BENCH_TMP")) as d:
        path = os.path.join(d, "buf")
        print(f"memmap {kind} buffer of {n:,} Pendulum items at {path}; start RSS anon/file "
              f"{note()[0]:.0f}/{note()[1]:.0f} MiB")
        t = time.perf_counter()
        state = buf.init(chunk[0], path=path)
        for i in range(0, n, chunk.batch_size[0]):
            state = buf.add(state, chunk)
            if (i // chunk.batch_size[0]) % 20 == 0:
                a, f = note()
                print(f"  added {i + chunk.batch_size[0]:>11,}: RSS anon {a:7.0f} MiB, file-backed {f:7.0f} MiB")
        add_s = time.perf_counter() - t
        for i in range(2000):
            batch, info = buf.sample(state, i, BATCH)
            if isinstance(buf, fb.PrioritizedBuffer):
                state = buf.update_priorities(state, info["index"], torch.rand(BATCH))
        a, f = note()
        fb.save(state, path)
        size = sum(os.path.getsize(os.path.join(r, x)) for r, _, xs in os.walk(path) for x in xs)
        print(f"after 2000 samples: RSS anon {a:.0f} MiB, file-backed {f:.0f} MiB; files {size / 2**20:.0f} MiB")
        print(f"peak RSS anon {peak[0]:.0f} MiB, peak file-backed {peak[1]:.0f} MiB "
              f"(file pages are page cache the kernel can drop); added in {add_s:.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--memmap", type=int, default=0, help="run the memmap RSS mode with this many items")
    p.add_argument("--kind", default="uniform", choices=["uniform", "prioritized"])
    p.add_argument("--torchrl-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torchrl_worker:
        print(json.dumps(torchrl_rows(args.threads)))
    elif args.memmap:
        memmap_mode(args.memmap, args.threads, args.kind)
    else:
        table(args.threads)


if __name__ == "__main__":
    main()
