"""Benchmark the cost of transforms: Pendulum-v1 with and without a typical transform stack, in one run.

    python bench/transforms.py            # 4096 envs
    python bench/transforms.py --envs 64 --threads 2

Rows: the bare stateless env and the same env in a `TransformedEnv` with ObservationNorm (running
statistics), RewardSum, StepCounter (a time limit) and CatFrames(4), each stepped with auto-reset
(`step_and_reset`) and a random policy, eagerly and compiled (``fullgraph=True``). The transformed
rows show what the transforms cost on top of the env; the first call (compile time) is printed apart.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from bench._common import machine_line, print_table, time_call, time_first_call  # noqa: E402
from frl import envs  # noqa: E402
from frl.envs import CatFrames, ObservationNorm, RewardSum, StepCounter, TransformedEnv  # noqa: E402


def make(transformed: bool):
    env = envs.make("Pendulum-v1")
    if transformed:
        env = TransformedEnv(env, [ObservationNorm(running=True), RewardSum(), StepCounter(100), CatFrames(4)])
    return env


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--envs", type=int, default=4096)
    # One thread by default: on a shared 2-core machine OpenMP barriers stall for ~100 ms at random.
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    n = args.envs
    rows = []
    for transformed in (False, True):
        env = make(transformed)

        def one(td, env=env):
            return envs.step_and_reset(env, envs.random_action(env, td))[1]

        for mode in ("eager", "compiled"):
            fn = one if mode == "eager" else torch.compile(one, fullgraph=True)
            state = {"td": env.reset(seed=0, batch_size=(n,))}

            def call(fn=fn, state=state):
                state["td"] = fn(state["td"])

            first = time_first_call(call)
            sec = time_call(call, warmup=3, iters=20, repeats=5)
            rows.append(["transformed" if transformed else "bare", mode, n, sec * 1e6, n / sec / 1e6, first])
    bare = {r[1]: r[3] for r in rows if r[0] == "bare"}
    for r in rows:
        r.append(r[3] / bare[r[1]])
    print(machine_line())
    print_table(["env", "mode", "envs", "us/step", "M steps/s", "first call s", "x bare"], rows)


if __name__ == "__main__":
    main()
