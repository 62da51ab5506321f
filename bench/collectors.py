"""Collector frames per second: frl's SyncCollector against TorchRL's SyncDataCollector, in one run.

Every row collects CartPole-v1 transitions with auto-reset and counts frames (one env step stored):

* frl SyncCollector, compiled: ``frl.envs.make("CartPole-v1")`` with 4096 stateless envs, one
  compiled collect step (policy -> step -> bookkeeping -> auto_reset) called in a Python loop, with
  uniform random actions and with a categorical MLP actor (64x64); compile time reported apart.
* frl SyncCollector, eager: the same step, not compiled.
* frl SyncCollector over ``frl.envs.GymEnv`` (1 env and ``num_envs=8``, a host loop, random
  policy compiled), where this checkout has the adapter.
* TorchRL SyncDataCollector (random policy) over ``GymEnv("CartPole-v1")`` and over
  ``SerialEnv(8, GymEnv)``, run in TorchRL's own interpreter (see ``bench/_common.py``).

    PYTHONPATH=. python bench/collectors.py [--envs 4096] [--steps 32] [--threads 1]   # from the repository root

Timings are medians of repeated batches after warm-up; the ratio column is frl's compiled random-policy
rate over each row's.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, machine_line, print_table, run_comparator, time_call  # noqa: E402

ID = "CartPole-v1"


def frl_rows(n_envs: int, steps: int, host_frames: int) -> tuple[dict, dict]:
    import frl
    from frl import random as fr
    from frl.collectors import SyncCollector

    env = frl.envs.make(ID)
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(4, 2), "categorical")
    params = actor.init(fr.key(0))
    rates, compile_s = {}, {}
    for policy_name, policy, p in (("random policy", None, None), ("MLP actor", actor, params)):
        for compiled in (True, False):
            torch._dynamo.reset()  # each collector is a new specialization of the same step code
            collector = SyncCollector(env, policy, p, frames_per_batch=n_envs * steps, batch_size=(n_envs,),
                                      seed=0, compile=compiled)
            name = f"frl SyncCollector {'compiled' if compiled else 'eager'}, {policy_name}, {n_envs} envs"
            t0 = time.perf_counter()
            collector.next_batch()  # compiles on the first step
            if compiled:
                compile_s[policy_name] = time.perf_counter() - t0
            rates[name] = n_envs * steps / time_call(collector.next_batch, warmup=1, iters=1, repeats=3)
    # The host adapter, where this checkout has it: the same env as TorchRL's rows, in a host loop.
    gym_env = getattr(frl.envs, "GymEnv", None)
    if gym_env is not None:
        for name, env in (("GymEnv, 1 env", gym_env(ID)), ("GymEnv(num_envs=8)", gym_env(ID, num_envs=8))):
            collector = SyncCollector(env, None, None, frames_per_batch=host_frames, seed=0)  # policy compiled
            rates[f"frl SyncCollector, {name}, random policy"] = host_frames / time_call(
                collector.next_batch, warmup=1, iters=1, repeats=3)
    return rates, compile_s


def torchrl_rows(frames: int) -> dict:
    """Runs in the TorchRL interpreter: SyncDataCollector frames per second with a random policy."""
    # TorchRL is installed only in FRL_TORCHRL_PYTHON's interpreter, where this function runs.
    from torchrl.envs import GymEnv, SerialEnv  # pyright: ignore[reportMissingImports]

    try:
        from torchrl.collectors import SyncDataCollector  # pyright: ignore[reportMissingImports]
    except ImportError:  # newer TorchRL names it Collector
        from torchrl.collectors import Collector as SyncDataCollector  # pyright: ignore[reportMissingImports]

    out = {}
    for name, make in (("TorchRL SyncDataCollector, GymEnv, 1 env", lambda: GymEnv(ID)),
                       ("TorchRL SyncDataCollector, SerialEnv(8, GymEnv)",
                        lambda: SerialEnv(8, lambda: GymEnv(ID)))):
        env = make()
        env.set_seed(0)
        collector = SyncDataCollector(env, None, frames_per_batch=frames, total_frames=-1)
        it = iter(collector)
        next(it)  # warm-up
        out[name] = frames / time_call(functools.partial(next, it), warmup=1, iters=1, repeats=3)
        collector.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=32, help="steps per batch (frames_per_batch / envs)")
    parser.add_argument("--torchrl-frames", type=int, default=2000,
                        help="frames per batch of TorchRL and of frl's GymEnv rows")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--torchrl", action="store_true", help="run only TorchRL's rows and print JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.torchrl:
        emit(torchrl_rows(args.torchrl_frames))
        return

    print(machine_line())
    rates, compile_s = frl_rows(args.envs, args.steps, args.torchrl_frames)
    trl = run_comparator(os.path.abspath(__file__), ["--torchrl-frames", str(args.torchrl_frames),
                                                      "--threads", str(args.threads)])
    rates.update(trl or {})
    best = rates[f"frl SyncCollector compiled, random policy, {args.envs} envs"]
    rows = [[ID, name, f"{rate / 1e6:.4f}", f"{best / rate:.1f}x"] for name, rate in rates.items()]
    if trl is None:
        rows.append([ID, "TorchRL SyncDataCollector (interpreter not found)", None, None])
    print_table(["env", "collector", "M frames/s", "frl compiled (random) is x faster"], rows)
    print("compile time (first batch): " + ", ".join(f"{k} {s:.1f} s" for k, s in compile_s.items()))


if __name__ == "__main__":
    main()
