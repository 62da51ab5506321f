"""MountainCarContinuous-v0 as a stateless, batched, pure-torch env: gymnasium's dynamics.

The continuous-action MountainCar: action a force [*B, 1], clipped to [-1, 1] for the dynamics (a
larger force is legal; a NaN raises). Reward ``-0.1 a^2`` per step (of the unclipped action, as in
gymnasium) plus 100 on reaching ``position >= 0.45`` with ``velocity >= goal_velocity``, which
terminates; truncated after 999 steps. gymnasium stores the state as float32 after every step, so
frl's default float32 is the faithful dtype here.

References:
    gymnasium, ``gymnasium/envs/classic_control/continuous_mountain_car.py`` (1.x).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from frl import random as fr
from frl._checks import check_floating, check_values
from frl.envs.env import Env
from frl.envs.specs import Bounded

__all__ = ["MountainCarContinuous", "MountainCarContinuousParams"]


@dataclass(frozen=True)
class MountainCarContinuousParams:
    """MountainCarContinuous-v0's constants (gymnasium's defaults). Physics fields may be tensors [*B]."""

    min_action: float = -1.0
    max_action: float = 1.0
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.45
    goal_velocity: float = 0.0
    power: float = 0.0015
    gravity: float = 0.0025
    max_episode_steps: int = 999
    init_low: float = -0.6  # reset: position ~ U(init_low, init_high), velocity 0
    init_high: float = -0.4


@dataclass(frozen=True, eq=False)
class MountainCarContinuous(Env):
    """Stateless MountainCarContinuous-v0. ``frl.envs.make("MountainCarContinuous-v0")`` builds one."""

    params: MountainCarContinuousParams = field(default_factory=MountainCarContinuousParams)
    dtype: torch.dtype = torch.float32
    state_size: int = field(default=2, init=False)

    def __post_init__(self):
        p = self.params
        low = torch.tensor([p.min_position, -p.max_speed], dtype=self.dtype)
        high = torch.tensor([p.max_position, p.max_speed], dtype=self.dtype)
        object.__setattr__(self, "observation_spec", Bounded(low, high, (2,), self.dtype))
        object.__setattr__(self, "action_spec", Bounded(p.min_action, p.max_action, (1,), torch.float32))

    def _init_state(self, key):
        p = self.params
        position = fr.uniform(key, (1,), self.dtype, p.init_low, p.init_high)
        return torch.cat([position, torch.zeros_like(position)])

    def _observe(self, state):
        return state.clone()  # a copy: aliased entries would make compiled steps guard on aliasing

    def _check_action(self, fn, action):
        check_floating(fn, "action", action)
        return check_values(fn, "action", action, ~torch.isnan(action).any(), "the reals (it is NaN)")

    def _transition(self, state, action):
        p = self.params
        position, velocity = state.unbind(-1)
        a = action[..., 0]
        force = torch.clamp(a, p.min_action, p.max_action).to(self.dtype)
        velocity = velocity + (force * p.power - p.gravity * torch.cos(3 * position))
        velocity = torch.clamp(velocity, -p.max_speed, p.max_speed)
        position = torch.clamp(position + velocity, p.min_position, p.max_position)
        velocity = torch.where((position == p.min_position) & (velocity < 0), 0.0, velocity).to(self.dtype)
        terminated = (position >= p.goal_position) & (velocity >= p.goal_velocity)
        reward = torch.where(terminated, 100.0, 0.0).to(self.dtype) - (a.to(self.dtype) ** 2) * 0.1
        return torch.stack([position, velocity], dim=-1), reward, terminated
