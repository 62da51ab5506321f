"""Env steps per second: frl's batched stateless envs against gymnasium and TorchRL, in one run.

Every row steps an env with uniformly random actions and resets finished episodes (auto-reset),
and counts env steps (one env advancing by one step):

* frl, eager: ``random_action -> step_and_reset`` on a batch of 1, 64 and 4096 envs (``--sizes``).
* frl, compiled: the same step function under ``torch.compile(fullgraph=True, dynamic=False)``,
  called in a Python loop (its compile time, the first call, is reported separately); at the
  largest size also with the action value check (`frl.set_value_checks`) off, as for a hot loop.
  The last column marks issue 5's target: at least 10 M steps/s at 4096 envs, compiled.
* gymnasium: the raw env in a Python loop (``action_space.sample()``, ``reset`` on done), and
  ``gymnasium.vector.SyncVectorEnv`` over 64 envs.
* TorchRL: ``GymEnv(id).rollout(...)`` with a random policy and auto-reset off the loop
  (``break_when_any_done=False``), run in TorchRL's own interpreter (see ``bench/_common.py``).

    PYTHONPATH=. python bench/envs.py [--sizes 1 64 4096] [--threads 1] [--ids Acrobot-v1 ...] [--no-gym]
    PYTHONPATH=. python bench/envs.py --all    # every env, then the two companion scripts:

* ``bench/envs_host.py``: ``GymEnv`` (single, sync and async vector) and ``DMControlEnv`` against raw
  gymnasium / dm_control and TorchRL's ``GymEnv`` / ``SerialEnv`` / ``ParallelEnv``;
* ``bench/envs_model.py``: an imagination rollout of 5 learned models x 4096 starts x 15 steps
  (``ModelEnv``, compiled and vmapped over the ensemble) against a Python loop over the models and
  TorchRL's ``ModelBasedEnvBase``.

(from the repository root). ``TORCHINDUCTOR_FORCE_DISABLE_CACHES=1`` gives cold compile times.
Timings are medians of repeated runs after warm-up; the ratio column is frl's rate over each row's.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
from collections.abc import Sequence

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine_line, print_table, run_comparator, time_call, time_first_call  # noqa: E402

IDS = ["Pendulum-v1", "CartPole-v1"]  # --ids adds MountainCar-v0, MountainCarContinuous-v0, Acrobot-v1
ALL_IDS = ("Pendulum-v1", "CartPole-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1")
# issue 5: each pure-torch env at 4096 envs, compiled, auto-reset included.
TARGET = 10e6


def gym_rows(steps: int) -> dict:
    """gymnasium's env, one at a time, and SyncVectorEnv over 64 envs: steps per second."""
    import gymnasium as gym

    out = {}
    for id in IDS:
        env = gym.make(id)
        env.reset(seed=0)
        env.action_space.seed(0)

        def run_single(env=env):  # env bound now: a closure would read the loop variable when called
            for _ in range(steps):
                _, _, term, trunc, _ = env.step(env.action_space.sample())
                if term or trunc:
                    env.reset()

        out[(id, "gymnasium, 1 env, Python loop")] = steps / time_call(run_single, warmup=1, iters=1, repeats=3)
        n = 64
        venv = gym.vector.SyncVectorEnv([functools.partial(gym.make, id) for _ in range(n)])  # autoresets itself
        venv.reset(seed=0)
        venv.action_space.seed(0)

        def run_vector(venv=venv, n=n):
            for _ in range(steps // n):
                venv.step(venv.action_space.sample())

        out[(id, f"gymnasium SyncVectorEnv, {n} envs")] = (steps // n) * n / time_call(
            run_vector, warmup=1, iters=1, repeats=3)
    return out


def torchrl_rows(steps: int) -> dict:
    """Runs in the TorchRL interpreter: GymEnv(id).rollout with random actions, steps per second."""
    # TorchRL is installed only in FRL_TORCHRL_PYTHON's interpreter, where this function runs.
    from torchrl.envs import GymEnv  # pyright: ignore[reportMissingImports]

    out = {}
    for id in IDS:
        env = GymEnv(id)
        env.set_seed(0)

        def run(env=env):
            env.rollout(steps, break_when_any_done=False)

        out[f"{id}|TorchRL GymEnv, 1 env, rollout"] = steps / time_call(run, warmup=1, iters=1, repeats=3)
    return out


def frl_rows(sizes: Sequence[int], steps: int, no_tiling_heuristics: bool = False) -> tuple[dict, dict]:
    """frl's batched envs at each batch size, eager and compiled: steps per second, compile seconds.

    Compiled functions are specialized to one batch size (``dynamic=False``); at the largest size a
    third function is traced with the action value checks off (and, with ``no_tiling_heuristics``, a
    fourth compiled with inductor's ``cpp.enable_tiling_heuristics`` off). Compile seconds are the first call's
    (with inductor's caches as they are: run with ``TORCHINDUCTOR_FORCE_DISABLE_CACHES=1`` for cold).
    """
    import frl
    from frl import envs

    rates, compile_s = {}, {}
    for id in IDS:
        env = envs.make(id)

        def step(td, env=env):
            return envs.step_and_reset(env, envs.random_action(env, td))[1]

        for n_envs in sizes:
            variants = [("eager", step, True, None), ("compiled", None, True, None)]
            if n_envs == max(sizes):
                variants.append(("compiled, value checks off", None, False, None))
                if no_tiling_heuristics:
                    variants.append(("compiled, value checks off, no tiling heuristics", None, False,
                                     {"cpp.enable_tiling_heuristics": False}))
            for name, fn, checks, options in variants:
                # The flag is read at trace time. Each env and batch size is a new specialization of
                # the same code object: start afresh so dynamo's recompile limit is not reached.
                frl.set_value_checks(checks)
                state = [env.reset(seed=0, batch_size=(n_envs,))]
                if fn is None:
                    torch._dynamo.reset()
                    fn = torch.compile(step, fullgraph=True, dynamic=False, options=options)
                    compile_s[(id, n_envs, name)] = time_first_call(lambda fn=fn, state=state: fn(state[0]))

                def run(fn=fn, state=state):
                    td = state[0]
                    for _ in range(steps):
                        td = fn(td)
                    state[0] = td

                rates[(id, f"frl {name}, {n_envs} envs")] = steps * n_envs / time_call(
                    run, warmup=1, iters=1, repeats=3)
            frl.set_value_checks(True)
    return rates, compile_s


def random_compile_seconds() -> float:
    """Seconds to compile (first call) one ``frl.random.normal`` draw of 4096 numbers."""
    from frl import random as fr

    torch._dynamo.reset()
    fn = torch.compile(lambda k: fr.normal(k, (4096,)), fullgraph=True)
    return time_first_call(lambda: fn(fr.key(0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 4096], help="env batch sizes for frl")
    parser.add_argument("--frl-steps", type=int, default=50, help="batched steps per timed frl run")
    parser.add_argument("--gym-steps", type=int, default=4096, help="env steps per timed gymnasium run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ids", nargs="+", default=IDS, help="gymnasium ids of the envs to time")
    parser.add_argument("--no-tiling-heuristics", action="store_true",
                        help="add a row compiled with inductor's cpp.enable_tiling_heuristics off: its "
                             "non-contiguous-access count disables vectorizing the generator's kernels")
    parser.add_argument("--no-gym", action="store_true", help="frl's rows only (no gymnasium, no TorchRL)")
    parser.add_argument("--torchrl", action="store_true", help="run only TorchRL's rows and print JSON")
    parser.add_argument("--all", action="store_true",
                        help="all five envs, then bench/envs_host.py and bench/envs_model.py (issue 5's benchmark)")
    args = parser.parse_args()
    if args.all:
        args.ids = list(ALL_IDS)
    IDS[:] = args.ids
    torch.set_num_threads(args.threads)
    if args.torchrl:
        emit(torchrl_rows(args.gym_steps // 4))
        return

    print(machine_line())
    top = max(args.sizes)
    rates, compile_s = frl_rows(args.sizes, args.frl_steps, args.no_tiling_heuristics)
    trl = None
    if not args.no_gym:
        rates.update(gym_rows(args.gym_steps))
        trl = run_comparator(os.path.abspath(__file__), ["--gym-steps", str(args.gym_steps),
                                                          "--threads", str(args.threads), "--ids", *IDS])
        for key, rate in (trl or {}).items():
            id, name = key.split("|")
            rates[(id, name)] = rate
    rows = []
    for id in IDS:
        best = rates[(id, f"frl compiled, {top} envs")]
        for (rid, name), rate in rates.items():
            if rid == id:
                mark = ""
                if name == f"frl compiled, {top} envs" and top == 4096:
                    mark = "met" if rate >= TARGET else "MISSED"
                rows.append([id, name, f"{rate / 1e6:.4g}", f"{best / rate:.3g}x", mark])
        if trl is None and not args.no_gym:
            rows.append([id, "TorchRL GymEnv (interpreter not found)", None, None, ""])
    print_table(["env", "implementation", "M steps/s", "frl compiled is x faster",
                 f"target {TARGET / 1e6:.0f} M/s"], rows)
    print("compile time (first call, seconds): " + ", ".join(
        f"{id} {n} envs{'' if name == 'compiled' else ' ' + name} {s:.1f}" for (id, n, name), s in compile_s.items()))
    print(f"compile time of one frl.random.normal draw of 4096: {random_compile_seconds():.1f} s")
    if args.all:
        here = os.path.dirname(os.path.abspath(__file__))
        for script in ("envs_host.py", "envs_model.py"):
            print(f"\n=== bench/{script} ===", flush=True)
            subprocess.run([sys.executable, os.path.join(here, script), "--threads", str(args.threads)], check=True)


if __name__ == "__main__":
    main()
