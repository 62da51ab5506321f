"""Host adapters: frl's GymEnv / DMControlEnv against raw gymnasium / dm_control and TorchRL, one run.

Every row counts env steps per second (one env advancing one step), auto-reset included, with the
same pre-drawn random actions for every implementation (so the rows time the env and its adapter,
not a random policy):

* Pendulum-v1, one env: raw gymnasium (``env.step``, ``reset`` on done; once more with
  ``action_space.sample()`` per step, the usual raw loop), frl ``GymEnv`` (``step`` then
  ``auto_reset``; once more as ``frl.envs.rollout(env, None, ...)``, whose random policy draws each
  action from frl.random keys), TorchRL ``GymEnv`` (``step_and_maybe_reset``, and ``rollout`` with
  its random policy).
* Pendulum-v1, 8 envs: gymnasium ``SyncVectorEnv`` / ``AsyncVectorEnv`` (SAME_STEP autoreset),
  frl ``GymEnv(num_envs=8, vectorize="sync" | "async")``, TorchRL ``SerialEnv`` / ``ParallelEnv``
  of 8 ``GymEnv``.
* cartpole-swingup: raw dm_control (``env.step``, ``reset`` on LAST) and frl ``DMControlEnv``.

TorchRL's rows run in its own interpreter (see ``bench/_common.py``).

    PYTHONPATH=. python bench/envs_host.py [--steps 3000] [--num-envs 8]   # from the repository root

Timings are medians of repeated runs after warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine_line, print_table, run_comparator, time_call  # noqa: E402

ID = "Pendulum-v1"


def _pendulum_actions(steps: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    return np.random.default_rng(0).uniform(-2.0, 2.0, (steps,) + batch + (1,)).astype(np.float32)


def _rate(run, env_steps: int) -> float:
    return env_steps / time_call(run, warmup=1, iters=1, repeats=3)


# ---- raw libraries ------------------------------------------------------------------------------

def raw_rows(steps: int, n: int) -> dict:
    import gymnasium as gym

    out = {}
    acts = _pendulum_actions(steps)
    env = gym.make(ID)
    env.reset(seed=0)
    env.action_space.seed(0)

    def single():
        for a in acts:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()

    def single_sample():
        for _ in range(steps):
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            if term or trunc:
                env.reset()

    out["single|gymnasium, pre-drawn actions"] = _rate(single, steps)
    out["single|gymnasium, action_space.sample()"] = _rate(single_sample, steps)

    vacts = _pendulum_actions(steps // n, (n,))
    for mode, cls in (("sync", gym.vector.SyncVectorEnv), ("async", gym.vector.AsyncVectorEnv)):
        venv = cls([lambda: gym.make(ID)] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        venv.reset(seed=0)

        def vec():
            for a in vacts:
                venv.step(a)

        out[f"vector|gymnasium {cls.__name__}, {n} envs"] = _rate(vec, len(vacts) * n)
        venv.close()
    return out


def dmc_raw_rows(steps: int) -> dict:
    from dm_control import suite

    env = suite.load("cartpole", "swingup", task_kwargs={"random": 0})
    env.reset()
    acts = np.random.default_rng(0).uniform(-1.0, 1.0, (steps, 1))

    def run():
        for a in acts:
            if env.step(a).last():
                env.reset()

    return {"dmc|dm_control, pre-drawn actions": _rate(run, steps)}


# ---- frl ------------------------------------------------------------------------------------------

def frl_rows(steps: int, n: int) -> dict:
    from frl import envs

    out = {}
    acts = list(torch.from_numpy(_pendulum_actions(steps)))
    env = envs.GymEnv(ID)
    state = [env.reset(seed=0)]

    def single():
        td = state[0]
        for a in acts:
            td.set("action", a)
            td = env.auto_reset(env.step(td))
        state[0] = td

    out["single|frl GymEnv, step + auto_reset"] = _rate(single, steps)
    short = max(steps // 10, 1)  # the random policy is slow in eager mode: time fewer steps
    out["single|frl GymEnv, rollout(policy=None) (frl.random policy)"] = _rate(
        lambda: envs.rollout(env, None, env.reset(seed=0), short), short)
    env.close()

    vacts = list(torch.from_numpy(_pendulum_actions(steps // n, (n,))))
    for mode in ("sync", "async"):
        venv = envs.GymEnv(ID, num_envs=n, vectorize=mode)
        vstate = [venv.reset(seed=0)]

        def vec():
            td = vstate[0]
            for a in vacts:
                td.set("action", a)
                td = venv.auto_reset(venv.step(td))
            vstate[0] = td

        out[f"vector|frl GymEnv(num_envs={n}, vectorize={mode!r})"] = _rate(vec, len(vacts) * n)
        venv.close()

    dmc = envs.DMControlEnv("cartpole", "swingup")
    dacts = list(torch.from_numpy(np.random.default_rng(0).uniform(-1.0, 1.0, (steps, 1)).astype(np.float32)))
    dstate = [dmc.reset(seed=0)]

    def drun():
        td = dstate[0]
        for a in dacts:
            td.set("action", a)
            td = dmc.auto_reset(dmc.step(td))
        dstate[0] = td

    out["dmc|frl DMControlEnv, step + auto_reset"] = _rate(drun, steps)
    return out


# ---- TorchRL (runs in its own interpreter) --------------------------------------------------------

def torchrl_rows(steps: int, n: int) -> dict:
    from torchrl.envs import GymEnv, ParallelEnv, SerialEnv

    out = {}
    acts = list(torch.from_numpy(_pendulum_actions(steps)))
    env = GymEnv(ID)
    env.set_seed(0)
    state = [env.reset()]

    def single():
        td = state[0]
        for a in acts:
            td.set("action", a)
            _, td = env.step_and_maybe_reset(td)
        state[0] = td

    out["single|TorchRL GymEnv, step_and_maybe_reset"] = _rate(single, steps)
    out["single|TorchRL GymEnv, rollout (random policy)"] = _rate(
        lambda: env.rollout(steps, break_when_any_done=False), steps)

    vacts = list(torch.from_numpy(_pendulum_actions(steps // n, (n,))))
    for name, cls in (("SerialEnv", SerialEnv), ("ParallelEnv", ParallelEnv)):
        venv = cls(n, lambda: GymEnv(ID))
        venv.set_seed(0)
        vstate = [venv.reset()]

        def vec():
            td = vstate[0]
            for a in vacts:
                td.set("action", a)
                _, td = venv.step_and_maybe_reset(td)
            vstate[0] = td

        out[f"vector|TorchRL {name}({n} x GymEnv)"] = _rate(vec, len(vacts) * n)
        venv.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="env steps per timed run")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--torchrl", action="store_true", help="run only TorchRL's rows and print JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.torchrl:
        emit(torchrl_rows(args.steps, args.num_envs))
        return

    print(machine_line())
    rates = {}
    rates.update(frl_rows(args.steps, args.num_envs))
    rates.update(raw_rows(args.steps, args.num_envs))
    rates.update(dmc_raw_rows(args.steps))
    trl = run_comparator(os.path.abspath(__file__), ["--steps", str(args.steps), "--num-envs", str(args.num_envs),
                                                      "--threads", str(args.threads)])
    rates.update(trl or {})
    best = {"single": "single|frl GymEnv, step + auto_reset",
            "vector": f"vector|frl GymEnv(num_envs={args.num_envs}, vectorize='sync')",
            "dmc": "dmc|frl DMControlEnv, step + auto_reset"}
    titles = {"single": f"{ID}, 1 env", "vector": f"{ID}, {args.num_envs} envs", "dmc": "cartpole-swingup, 1 env"}
    rows = []
    for group in ("single", "vector", "dmc"):
        ref = rates[best[group]]
        for key, rate in rates.items():
            g, name = key.split("|")
            if g == group:
                rows.append([titles[group], name, f"{rate / 1e3:.1f}", f"{ref / rate:.2f}x"])
        if trl is None and group != "dmc":
            rows.append([titles[group], "TorchRL (interpreter not found)", None, None])
    print_table(["env", "implementation", "k steps/s", f"frl ({best['single'].split('|')[1]} / sync) vs row"], rows)


if __name__ == "__main__":
    main()
