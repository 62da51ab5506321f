"""`OffPolicyArgs`: the settings every off-policy example shares, and how it compiles its steps.

The off-policy examples (`examples/dqn_cartpole.py`, `examples/sac_pendulum.py`,
`examples/td3_pendulum.py`) subclass it, change defaults, add their algorithm's fields, and turn it
into a command line with ``tyro.cli(Args)``; every field's docstring becomes its ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["OffPolicyArgs", "TRANSITION_KEYS"]

from frl.objectives.keys import TRANSITION_KEYS  # noqa: E402  (re-exported here for old imports)


@dataclass
class OffPolicyArgs:
    total_frames: int = 100_000
    """environment frames per seed"""
    num_envs: int = 1
    """parallel environments per seed (frames per collect step)"""
    buffer_size: int = 100_000
    """replay capacity per seed"""
    batch_size: int = 256
    """transitions per gradient step"""
    learning_starts: int = 1_000
    """frames collected before the first gradient step"""
    lr: float = 1e-3
    """Adam learning rate"""
    gamma: float = 0.99
    """discount"""
    tau: float = 0.005
    """Polyak rate of the target networks"""
    num_cells: int = 256
    """hidden units of the 2-layer networks"""
    seed: int = 0
    """seed of the first agent; agent i uses seed + i"""
    num_seeds: int = 1
    """independent agents trained at once (vmapped)"""
    threads: int = 1
    """torch CPU threads"""
    compile: bool = True
    """torch.compile the collect and train steps (fullgraph)"""
    out: str = "runs/off_policy"
    """folder for metrics.json and learning_curve.png"""

    def jit(self, **options) -> Callable[[Callable], Callable]:
        """``f -> torch.compile(f, fullgraph=True)`` (the identity with ``compile=False``).

        The compiled steps are not guarded on module globals: before each call dynamo would otherwise
        re-check every global the traced code read (hundreds in frl, tensordict and torch.func, many
        in Python), a quarter of a DQN collect step's time (bench/dqn_train.py). Nothing rebinds them
        during a run; tensors, closures and the arguments' structure stay guarded. ``options`` are
        inductor options (e.g. ``cpp_wrapper=True``).
        """
        if not self.compile:
            return lambda f: f
        if hasattr(torch.compiler, "skip_guard_on_globals_unsafe"):
            options["guard_filter_fn"] = torch.compiler.skip_guard_on_globals_unsafe
        # A copy of the options for each function: torch.compile pops the guard filter out of its dict.
        return lambda f: torch.compile(f, fullgraph=True, options=dict(options))
