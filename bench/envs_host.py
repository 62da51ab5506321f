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

Each row is the best of ``--repeats`` interleaved runs after a warm-up run (the machine is shared:
interleaving gives every row the same load, and the best run is the least disturbed one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine_line, print_table, run_comparator  # noqa: E402

ID = "Pendulum-v1"


def _pendulum_actions(steps: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    return np.random.default_rng(0).uniform(-2.0, 2.0, (steps,) + batch + (1,)).astype(np.float32)


def measure(runners: list, repeats: int) -> dict:
    """Steps per second of each ``(key, run, env_steps)``: the best of ``repeats`` interleaved runs.

    The machine is shared: interleaving exposes every row to the same load, and the best run of each
    is the one least disturbed by other processes. Two clocks: wall time (``key``), and this
    process's CPU time (``key + "|cpu"``), which waiting for a busy core does not inflate; the CPU
    clock misses the work of worker processes, so multi-process rows report wall time only.
    """
    for _, run, _ in runners:
        run()  # warm-up
    best = {}
    for _ in range(repeats):
        for key, run, n in runners:
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            t1, c1 = time.perf_counter(), time.process_time()
            best[key] = max(best.get(key, 0.0), n / (t1 - t0))
            if not _multiprocess(key):
                best[key + "|cpu"] = max(best.get(key + "|cpu", 0.0), n / max(c1 - c0, 1e-9))
    return best


def _multiprocess(key: str) -> bool:
    return "async" in key.lower() or "Parallel" in key


# ---- raw libraries ------------------------------------------------------------------------------
# Each *_runners function builds its envs and returns (runners, close): runners are (key, run, env_steps).

def raw_runners(steps: int, n: int):
    import gymnasium as gym

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

    runners = [("single|gymnasium, pre-drawn actions", single, steps),
               ("single|gymnasium, action_space.sample()", single_sample, steps)]
    vacts = _pendulum_actions(steps // n, (n,))
    venvs = []
    for cls in (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv):
        venv = cls([lambda: gym.make(ID)] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        venv.reset(seed=0)
        venvs.append(venv)

        def vec(venv=venv):
            for a in vacts:
                venv.step(a)

        runners.append((f"vector|gymnasium {cls.__name__}, {n} envs", vec, len(vacts) * n))

    from dm_control import suite

    denv = suite.load("cartpole", "swingup", task_kwargs={"random": 0})
    denv.reset()
    dacts = np.random.default_rng(0).uniform(-1.0, 1.0, (steps, 1))

    def drun():
        for a in dacts:
            if denv.step(a).last():
                denv.reset()

    runners.append(("dmc|dm_control, pre-drawn actions", drun, steps))
    return runners, lambda: [v.close() for v in venvs]


# ---- frl ------------------------------------------------------------------------------------------

def _frl_loop(env, acts):
    state = [env.reset(seed=0)]

    def run():
        td = state[0]
        for a in acts:
            td.set("action", a)
            td = env.auto_reset(env.step(td))
        state[0] = td

    return run


def frl_runners(steps: int, n: int):
    from frl import envs

    env = envs.GymEnv(ID)
    short = max(steps // 10, 1)  # the random policy is slow in eager mode: time fewer steps
    acts = list(torch.from_numpy(_pendulum_actions(steps)))
    runners = [("single|frl GymEnv, step + auto_reset", _frl_loop(env, acts), steps),
               ("single|frl GymEnv, rollout(policy=None) (frl.random policy)",
                lambda: envs.rollout(env, None, env.reset(seed=0), short), short)]
    vacts = list(torch.from_numpy(_pendulum_actions(steps // n, (n,))))
    venvs = [env]
    for mode in ("sync", "async"):
        venv = envs.GymEnv(ID, num_envs=n, vectorize=mode)
        venvs.append(venv)
        runners.append((f"vector|frl GymEnv(num_envs={n}, vectorize={mode!r})", _frl_loop(venv, vacts), len(vacts) * n))
    dmc = envs.DMControlEnv("cartpole", "swingup")
    dacts = list(torch.from_numpy(np.random.default_rng(0).uniform(-1.0, 1.0, (steps, 1)).astype(np.float32)))
    runners.append(("dmc|frl DMControlEnv, step + auto_reset", _frl_loop(dmc, dacts), steps))
    return runners, lambda: [v.close() for v in venvs]


# ---- TorchRL (runs in its own interpreter) --------------------------------------------------------

def torchrl_runners(steps: int, n: int):
    # TorchRL is installed only in FRL_TORCHRL_PYTHON's interpreter, where this function runs.
    from torchrl.envs import GymEnv, ParallelEnv, SerialEnv  # pyright: ignore[reportMissingImports]

    def loop(env, acts):
        env.set_seed(0)
        state = [env.reset()]

        def run():
            td = state[0]
            for a in acts:
                td.set("action", a)
                _, td = env.step_and_maybe_reset(td)
            state[0] = td

        return run

    env = GymEnv(ID)
    acts = list(torch.from_numpy(_pendulum_actions(steps)))
    runners = [("single|TorchRL GymEnv, step_and_maybe_reset", loop(env, acts), steps),
               ("single|TorchRL GymEnv, rollout (random policy)",
                lambda: env.rollout(steps, break_when_any_done=False), steps)]
    vacts = list(torch.from_numpy(_pendulum_actions(steps // n, (n,))))
    venvs = []
    for name, cls in (("SerialEnv", SerialEnv), ("ParallelEnv", ParallelEnv)):
        venv = cls(n, lambda: GymEnv(ID))
        venvs.append(venv)
        runners.append((f"vector|TorchRL {name}({n} x GymEnv)", loop(venv, vacts), len(vacts) * n))
    return runners, lambda: [v.close() for v in venvs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="env steps per timed run")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed runs; the best is kept")
    parser.add_argument("--torchrl", action="store_true", help="run only TorchRL's rows and print JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.torchrl:
        runners, close = torchrl_runners(args.steps, args.num_envs)
        rates = measure(runners, args.repeats)
        close()
        emit(rates)
        return

    print(machine_line())
    frl_r, frl_close = frl_runners(args.steps, args.num_envs)
    raw_r, raw_close = raw_runners(args.steps, args.num_envs)
    # frl and the raw libraries interleaved, group by group, so that each pair shares the same load.
    runners = sorted(frl_r + raw_r, key=lambda r: ("single", "vector", "dmc").index(r[0].split("|")[0]))
    rates = measure(runners, args.repeats)
    frl_close()
    raw_close()
    trl = run_comparator(os.path.abspath(__file__), ["--steps", str(args.steps), "--num-envs", str(args.num_envs),
                                                      "--threads", str(args.threads), "--repeats", str(args.repeats)])
    rates.update(trl or {})
    best = {"single": "single|frl GymEnv, step + auto_reset",
            "vector": f"vector|frl GymEnv(num_envs={args.num_envs}, vectorize='sync')",
            "dmc": "dmc|frl DMControlEnv, step + auto_reset"}
    titles = {"single": f"{ID}, 1 env", "vector": f"{ID}, {args.num_envs} envs", "dmc": "cartpole-swingup, 1 env"}
    rows = []
    for group in ("single", "vector", "dmc"):
        ref, ref_cpu = rates[best[group]], rates[best[group] + "|cpu"]
        for key, rate in rates.items():
            if key.endswith("|cpu"):
                continue
            g, name = key.split("|")
            if g == group:
                cpu = rates.get(key + "|cpu")
                rows.append([titles[group], name, f"{rate / 1e3:.1f}", f"{ref / rate:.2f}x",
                             None if cpu is None else f"{cpu / 1e3:.1f}",
                             None if cpu is None else f"{ref_cpu / cpu:.2f}x"])
        if trl is None and group != "dmc":
            rows.append([titles[group], "TorchRL (interpreter not found)", None, None, None, None])
    print_table(["env", "implementation", "k steps/s (wall)", "frl / row (wall)", "k steps/s (CPU)",
                 "frl / row (CPU)"], rows)
    print("frl is the first row of each group (one env: GymEnv step + auto_reset; 8 envs: GymEnv sync).")

if __name__ == "__main__":
    main()
