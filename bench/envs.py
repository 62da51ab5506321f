"""Env steps per second: frl's batched stateless envs against gymnasium and TorchRL, in one run.

Every row steps Pendulum-v1 or CartPole-v1 with uniformly random actions and resets finished
episodes (auto-reset), and counts env steps (one env advancing by one step):

* frl, eager: ``random_action -> step_and_reset`` on a batch of 4096 envs.
* frl, compiled: the same step function under ``torch.compile(fullgraph=True)``, called in a
  Python loop (its compile time, the first call, is reported separately); once with the action
  value check (`frl.set_value_checks`) on, the default, and once with it off, as for a hot loop.
* gymnasium: the raw env in a Python loop (``action_space.sample()``, ``reset`` on done), and
  ``gymnasium.vector.SyncVectorEnv`` over 64 envs.
* TorchRL: ``GymEnv(id).rollout(...)`` with a random policy and auto-reset off the loop
  (``break_when_any_done=False``), run in TorchRL's own interpreter (see ``bench/_common.py``).

    PYTHONPATH=. python bench/envs.py [--envs 4096] [--threads 1] [--ids Acrobot-v1 ...]   # from the repository root

Timings are medians of repeated runs after warm-up; the ratio column is frl's rate over each row's.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine_line, print_table, run_comparator, time_call, time_first_call  # noqa: E402

IDS = ["Pendulum-v1", "CartPole-v1"]  # --ids adds MountainCar-v0, MountainCarContinuous-v0, Acrobot-v1


def gym_rows(steps: int) -> dict:
    """gymnasium's env, one at a time, and SyncVectorEnv over 64 envs: steps per second."""
    import gymnasium as gym

    out = {}
    for id in IDS:
        env = gym.make(id)
        env.reset(seed=0)
        env.action_space.seed(0)

        def run_single():
            for _ in range(steps):
                _, _, term, trunc, _ = env.step(env.action_space.sample())
                if term or trunc:
                    env.reset()

        out[(id, "gymnasium, 1 env, Python loop")] = steps / time_call(run_single, warmup=1, iters=1, repeats=3)
        n = 64
        venv = gym.vector.SyncVectorEnv([lambda: gym.make(id) for _ in range(n)])  # autoresets itself
        venv.reset(seed=0)
        venv.action_space.seed(0)

        def run_vector():
            for _ in range(steps // n):
                venv.step(venv.action_space.sample())

        out[(id, f"gymnasium SyncVectorEnv, {n} envs")] = (steps // n) * n / time_call(
            run_vector, warmup=1, iters=1, repeats=3)
    return out


def torchrl_rows(steps: int) -> dict:
    """Runs in the TorchRL interpreter: GymEnv(id).rollout with random actions, steps per second."""
    from torchrl.envs import GymEnv

    out = {}
    for id in IDS:
        env = GymEnv(id)
        env.set_seed(0)

        def run():
            env.rollout(steps, break_when_any_done=False)

        out[f"{id}|TorchRL GymEnv, 1 env, rollout"] = steps / time_call(run, warmup=1, iters=1, repeats=3)
    return out


def frl_rows(n_envs: int, steps: int) -> tuple[dict, dict]:
    """frl's batched envs, eager and compiled: steps per second, and compile seconds."""
    import frl
    from frl import envs

    rates, compile_s = {}, {}
    for id in IDS:
        env = envs.make(id)
        # Each env (and each checks setting) is a new specialization of the same code object:
        # start afresh so that dynamo's per-code-object recompile limit is not reached.
        torch._dynamo.reset()

        def step(td):
            return envs.step_and_reset(env, envs.random_action(env, td))[1]

        compiled = torch.compile(step, fullgraph=True)
        unchecked = torch.compile(lambda td: step(td), fullgraph=True)
        for name, fn in (("eager", step), ("compiled step in a Python loop", compiled),
                         ("compiled, value checks off", unchecked)):
            state = [env.reset(seed=0, batch_size=(n_envs,))]
            # The flag is read at trace time: the third function is traced with the checks off.
            frl.set_value_checks(fn is not unchecked)

            def run():
                td = state[0]
                for _ in range(steps):
                    td = fn(td)
                state[0] = td

            if fn is compiled:
                compile_s[id] = time_first_call(lambda: compiled(state[0]))
            elif fn is unchecked:
                unchecked(state[0])
            rates[(id, f"frl {name}, {n_envs} envs")] = steps * n_envs / time_call(
                run, warmup=1, iters=1, repeats=3)
        frl.set_value_checks(True)
    return rates, compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=4096)
    parser.add_argument("--frl-steps", type=int, default=50, help="batched steps per timed frl run")
    parser.add_argument("--gym-steps", type=int, default=4096, help="env steps per timed gymnasium run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ids", nargs="+", default=IDS, help="gymnasium ids of the envs to time")
    parser.add_argument("--torchrl", action="store_true", help="run only TorchRL's rows and print JSON")
    args = parser.parse_args()
    IDS[:] = args.ids
    torch.set_num_threads(args.threads)
    if args.torchrl:
        emit(torchrl_rows(args.gym_steps // 4))
        return

    print(machine_line())
    rates, compile_s = frl_rows(args.envs, args.frl_steps)
    rates.update(gym_rows(args.gym_steps))
    trl = run_comparator(os.path.abspath(__file__), ["--gym-steps", str(args.gym_steps),
                                                      "--threads", str(args.threads), "--ids", *IDS])
    for key, rate in (trl or {}).items():
        id, name = key.split("|")
        rates[(id, name)] = rate
    rows = []
    for id in IDS:
        best = rates[(id, f"frl compiled step in a Python loop, {args.envs} envs")]
        for (rid, name), rate in rates.items():
            if rid == id:
                rows.append([id, name, f"{rate / 1e6:.3f}", f"{best / rate:.1f}x"])
        if trl is None:
            rows.append([id, "TorchRL GymEnv (interpreter not found)", None, None])
    print_table(["env", "implementation", "M steps/s", "frl compiled is x faster"], rows)
    print("compile time (first call): " + ", ".join(f"{id} {s:.1f} s" for id, s in compile_s.items()))


if __name__ == "__main__":
    main()
