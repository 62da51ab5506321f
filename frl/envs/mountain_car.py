"""MountainCar-v0 as a stateless, batched, pure-torch env: gymnasium's dynamics step for step.

An underpowered car in a valley must rock back and forth to reach the flag on the right hill.
State and observation ``(position, velocity)``. Action: an int64 index [*B] in {0, 1, 2}
(accelerate left, don't, right), TorchRL's ``Categorical`` layout. Reward -1 per step. Terminated at
``position >= 0.5`` with ``velocity >= goal_velocity``; truncated after 200 steps.

References:
    gymnasium, ``gymnasium/envs/classic_control/mountain_car.py`` (1.x); Moore, "Efficient
    Memory-based Learning for Robot Control", 1990.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from frl import random as fr
from frl._checks import check_dtype, check_values
from frl.envs.env import Env
from frl.envs.specs import Bounded, Categorical

__all__ = ["MountainCar", "MountainCarParams"]

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


@dataclass(frozen=True)
class MountainCarParams:
    """MountainCar-v0's constants (gymnasium's defaults). Physics fields may be tensors [*B]."""

    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    goal_velocity: float = 0.0
    force: float = 0.001
    gravity: float = 0.0025
    max_episode_steps: int = 200
    init_low: float = -0.6  # reset: position ~ U(init_low, init_high), velocity 0
    init_high: float = -0.4


@dataclass(frozen=True, eq=False)
class MountainCar(Env):
    """Stateless MountainCar-v0. ``frl.envs.make("MountainCar-v0")`` builds one.

    Args:
        params: the constants (`MountainCarParams`).
        dtype: the dtype of state, observation and reward (float64 reproduces gymnasium exactly).
    """

    params: MountainCarParams = field(default_factory=MountainCarParams)
    dtype: torch.dtype = torch.float32
    state_size: int = field(default=2, init=False)

    def __post_init__(self):
        p = self.params
        low = torch.tensor([p.min_position, -p.max_speed], dtype=self.dtype)
        high = torch.tensor([p.max_position, p.max_speed], dtype=self.dtype)
        object.__setattr__(self, "observation_spec", Bounded(low, high, (2,), self.dtype))
        object.__setattr__(self, "action_spec", Categorical(3, (), torch.int64))

    def _init_state(self, key):
        p = self.params
        position = fr.uniform(key, (1,), self.dtype, p.init_low, p.init_high)
        return torch.cat([position, torch.zeros_like(position)])

    def _observe(self, state):
        return state.clone()  # a copy: aliased entries would make compiled steps guard on aliasing

    def _check_action(self, fn, action):
        check_dtype(fn, "action", action, _INT_DTYPES)
        return check_values(fn, "action", action, ((action >= 0) & (action <= 2)).all(), "{0, 1, 2}")

    def _transition(self, state, action):
        p = self.params
        position, velocity = state.unbind(-1)
        # Same association as gymnasium's `velocity += (a - 1) * force + cos(3 p) * (-gravity)`.
        velocity = velocity + ((action - 1).to(self.dtype) * p.force + torch.cos(3 * position) * (-p.gravity))
        velocity = torch.clamp(velocity, -p.max_speed, p.max_speed)
        position = torch.clamp(position + velocity, p.min_position, p.max_position)
        # The left wall is inelastic.
        velocity = torch.where((position == p.min_position) & (velocity < 0), 0.0, velocity).to(self.dtype)
        terminated = (position >= p.goal_position) & (velocity >= p.goal_velocity)
        reward = torch.full_like(position, -1.0)
        return torch.stack([position, velocity], dim=-1), reward, terminated
