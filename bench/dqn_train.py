"""Steady-state speed of examples/dqn_cartpole.py's training iteration, whole and piece by piece.

    python bench/dqn_train.py [--seeds 1] [--threads 1] [--parts] [--profile] [--cold] [--compile-times]
                              [--cpp-wrapper] [--no-compile] [--example OTHER_VERSION.py]

Builds the example's agent (`examples/dqn_cartpole.py: build`, default arguments: 8 envs, capacity
50k, batch 128), fills the buffer past ``learning_starts`` and times one iteration as the example's
loop runs it (epsilon, ``v_collect`` + ``v_store`` + ``v_train``), each of the three
compiled functions alone, and with ``--parts`` the pieces of ``train`` (sample, update, priority
update, soft update), each compiled on its own and vmapped over seeds the same way. Prints ms per
call (wall clock, and the process's CPU time, steadier on a shared machine) and frames per second
(8 frames per iteration and seed), and the first iteration's time
(compilation). ``--profile`` prints torch.profiler's table for the iteration, with inductor's
kernels named (``torch._inductor.config.cpp.enable_kernel_profile``); ``--compile-times`` prints
dynamo's compile time per phase and graph (collect, add, train); ``--cold`` compiles into a fresh
inductor cache, so that the first iteration times what a first run of the example pays. Threads:
``--threads``, else ``FRL_BENCH_THREADS``, else 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _common import machine_line, print_table  # noqa: E402

import frl  # noqa: E402
from frl import random as fr  # noqa: E402
from frl.train import soft_update  # noqa: E402


def load_example(path: str = os.path.join(ROOT, "examples", "dqn_cartpole.py")):
    spec = importlib.util.spec_from_file_location("dqn_cartpole", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"bench/dqn_train.py: cannot load {path} as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["dqn_cartpole"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("FRL_BENCH_THREADS", "1")))
    parser.add_argument("--iters", type=int, default=200, help="calls per timing sample")
    parser.add_argument("--repeats", type=int, default=7, help="timing samples (the median is reported)")
    parser.add_argument("--parts", action="store_true", help="also time sample / update / priorities / soft update")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's table of the iteration")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--cpp-wrapper", action="store_true",
                        help="the example's --cpp-wrapper (inductor's C++ wrapper)")
    parser.add_argument("--compile-times", action="store_true", help="print dynamo's compile time per phase")
    parser.add_argument("--cold", action="store_true",
                        help="compile into a fresh inductor cache (the first iteration then times a first run)")
    parser.add_argument("--example", default=os.path.join(ROOT, "examples", "dqn_cartpole.py"),
                        help="the example file to time (another version of it, to compare)")
    args = parser.parse_args()
    if args.cold:
        import tempfile

        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="frl_bench_inductor_")
    torch.set_num_threads(args.threads)
    if args.profile:
        import torch._inductor.config as inductor_config

        inductor_config.cpp.enable_kernel_profile = True
    ex = load_example(args.example)
    a = ex.Args(num_seeds=args.seeds, compile=args.compile,
                **({"cpp_wrapper": True} if args.cpp_wrapper else {}))
    agent = ex.build(a)
    keys = torch.stack([fr.key(a.seed + i) for i in range(a.num_seeds)])
    *init_state, run_keys = torch.vmap(agent.init)(keys)
    params, target, opt_state, env_td, buf = frl.tree.dense(tuple(init_state))
    print(machine_line())

    step = [0]
    state = {}

    def collect():
        step_t = torch.tensor(step[0])
        tr, state["env_td"], _ = agent.v_collect(params, state["env_td"], run_keys, step_t,
                                                 ex.epsilon_at(a, step[0] * a.num_envs))
        step[0] += 1
        return tr

    def add(tr):
        state["buf"] = agent.v_store(state["buf"], tr)

    def train():
        out = agent.v_train(state["params"], state["target"], state["opt"], state["buf"], run_keys,
                            torch.tensor(step[0]))
        state["params"], state["target"], state["opt"], state["buf"], _ = out

    def iteration():
        add(collect())
        train()

    state.update(env_td=env_td, buf=buf, params=params, target=target, opt=opt_state)
    t0 = time.perf_counter()
    iteration()
    first = time.perf_counter() - t0
    print(f"first iteration (compiles collect, add, train): {first:.1f} s")
    if args.compile_times:
        print(torch._dynamo.utils.compile_times(repr="str"))
    while step[0] * a.num_envs < a.learning_starts:  # fill the buffer as the example would
        add(collect())

    tr = collect()
    rows = []

    def row(name, fn):
        # Wall time (what a run takes) and this process's CPU time (what the code costs: on a shared
        # machine it leaves out the time the process waited for a core).
        for _ in range(5):
            fn()
        walls, cpus = [], []
        for _ in range(args.repeats):
            w, c = time.perf_counter(), time.process_time()
            for _ in range(args.iters):
                fn()
            walls.append((time.perf_counter() - w) / args.iters)
            cpus.append((time.process_time() - c) / args.iters)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        rows.append([name, wall * 1e3, cpu * 1e3, a.num_envs * a.num_seeds / wall])

    row("iteration (collect + add + train)", iteration)
    row("collect", collect)
    row("buffer add", lambda: add(tr))
    row("train (sample + update + priorities + soft update)", train)

    if args.parts:
        buffer, jit = agent.buffer, ((lambda f: torch.compile(f, fullgraph=True)) if a.compile else (lambda f: f))
        step_t = torch.tensor(step[0])

        def sample(b, k, s):
            return buffer.sample(b, fr.fold_in(fr.fold_in(k, s), 1), a.batch_size)

        sample_seeds = jit(lambda b, k, s: torch.vmap(sample, in_dims=(0, 0, None))(b, k, s))
        update_seeds = jit(lambda p, t, o, b, w: torch.vmap(agent.update)(p, t, o, b, w))
        prio_seeds = jit(lambda b, i, e: torch.vmap(buffer.update_priorities)(b, i, e))
        soft_seeds = jit(lambda t, p: torch.vmap(lambda t, p: soft_update(t, p, a.tau))(t, p))
        batch, info = sample_seeds(state["buf"], run_keys, step_t)
        _, _, _, td_error = update_seeds(state["params"], state["target"], state["opt"], batch, info["weight"])
        row("  sample", lambda: sample_seeds(state["buf"], run_keys, step_t))
        row("  update (make_dqn_update)", lambda: update_seeds(state["params"], state["target"], state["opt"],
                                                               batch, info["weight"]))
        row("  update_priorities", lambda: state.update(buf=prio_seeds(state["buf"], info["index"], td_error)))
        row("  soft_update", lambda: soft_seeds(state["target"], state["params"]))

    print(f"seeds {a.num_seeds}, envs {a.num_envs}, capacity {a.buffer_size}, batch {a.batch_size}, "
          f"compile {a.compile}, cpp_wrapper {getattr(a, 'cpp_wrapper', False)}")
    print_table(["piece", "wall ms / call", "cpu ms / call", "frames/s (wall)"], rows)

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(50):
                iteration()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))


if __name__ == "__main__":
    main()
