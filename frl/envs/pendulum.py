"""Pendulum-v1 as a stateless, batched, pure-torch env: gymnasium's dynamics step for step.

The pendulum starts at a random angle and must be swung up and held upright with a bounded torque.
State ``(theta, theta_dot)``; observation ``(cos theta, sin theta, theta_dot)``; action: the torque
[*B, 1], clipped to ``[-max_torque, max_torque]`` as gymnasium does (so an out-of-range torque is
legal; a NaN torque raises). Reward ``-(angle_normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2)``,
computed from the state before the step. It never terminates; it is truncated after 200 steps.

References:
    gymnasium, ``gymnasium/envs/classic_control/pendulum.py`` (1.x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from frl import random as fr
from frl._checks import check_floating, check_values
from frl.envs.env import Env
from frl.envs.specs import Bounded

__all__ = ["Pendulum", "PendulumParams"]


@dataclass(frozen=True)
class PendulumParams:
    """Pendulum-v1's constants (gymnasium's defaults). Physics fields may be tensors [*B] (one per env)."""

    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0  # noqa: E741 (gymnasium's name)
    max_episode_steps: int = 200
    # Reset ranges: theta ~ U(-init_theta, init_theta), theta_dot ~ U(-init_theta_dot, init_theta_dot).
    init_theta: float = math.pi
    init_theta_dot: float = 1.0


def angle_normalize(x: torch.Tensor) -> torch.Tensor:
    """Wrap an angle to [-pi, pi); torch's ``%`` takes the divisor's sign, like numpy's."""
    return ((x + math.pi) % (2 * math.pi)) - math.pi


@dataclass(frozen=True, eq=False)
class Pendulum(Env):
    """Stateless Pendulum-v1. ``frl.envs.make("Pendulum-v1", g=9.81)`` builds one.

    Args:
        params: the constants (`PendulumParams`).
        dtype: the dtype of the state, observation and reward (float32 by default, as gymnasium's
            observations; float64 reproduces gymnasium's float64 physics to the last bits).

    Example:
        >>> env = Pendulum()
        >>> td = env.reset(seed=0, batch_size=(1024,))
        >>> td = env.step(td.set("action", torch.zeros(1024, 1)))
    """

    params: PendulumParams = field(default_factory=PendulumParams)
    dtype: torch.dtype = torch.float32
    state_size: int = field(default=2, init=False)

    def __post_init__(self):
        p = self.params
        high = torch.tensor([1.0, 1.0, p.max_speed], dtype=self.dtype)
        object.__setattr__(self, "observation_spec", Bounded(-high, high, (3,), self.dtype))
        object.__setattr__(self, "action_spec", Bounded(-p.max_torque, p.max_torque, (1,), torch.float32))

    def _init_state(self, key):
        p = self.params
        high = torch.tensor([p.init_theta, p.init_theta_dot], dtype=self.dtype, device=key.device)
        return fr.uniform(key, (2,), self.dtype, -high, high)

    def _observe(self, state):
        theta, theta_dot = state.unbind(-1)
        return torch.stack([torch.cos(theta), torch.sin(theta), theta_dot], dim=-1)

    def _check_action(self, fn, action):
        check_floating(fn, "action", action)
        return check_values(fn, "action", action, ~torch.isnan(action).any(), "the reals (it is NaN)")

    def _transition(self, state, action):
        p = self.params
        theta, theta_dot = state.unbind(-1)
        # gymnasium clips the float32 action and multiplies it by Python floats in float32 before
        # adding it to the float64 state; doing the same keeps float64 runs bit-exact.
        u = torch.clamp(action[..., 0], -p.max_torque, p.max_torque)
        cost = (angle_normalize(theta) ** 2 + 0.1 * theta_dot**2 + (0.001 * (u**2)).to(self.dtype))
        torque = (3.0 / (p.m * p.l**2) * u).to(self.dtype)
        new_theta_dot = theta_dot + (3 * p.g / (2 * p.l) * torch.sin(theta) + torque) * p.dt
        new_theta_dot = torch.clamp(new_theta_dot, -p.max_speed, p.max_speed)
        new_theta = theta + new_theta_dot * p.dt
        terminated = torch.zeros_like(theta, dtype=torch.bool)
        return torch.stack([new_theta, new_theta_dot], dim=-1), -cost, terminated
