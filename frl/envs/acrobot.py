"""Acrobot-v1 as a stateless, batched, pure-torch env: gymnasium's RK4 dynamics step for step.

Two links hang from a fixed joint; a torque on the middle joint must swing the free end above a line
one link length over the base. State ``(theta1, theta2, dtheta1, dtheta2)``; observation
``(cos theta1, sin theta1, cos theta2, sin theta2, dtheta1, dtheta2)``. Action: an int64 index [*B]
in {0, 1, 2} for a torque of -1, 0, +1. Reward -1 per step, 0 on the terminating step. Terminated when
``-cos(theta1) - cos(theta1 + theta2) > 1``; truncated after 500 steps. One step integrates the
equations of motion ("book" version) over ``dt = 0.2`` with one classical Runge-Kutta (RK4) step,
then wraps the angles to [-pi, pi] and clips the velocities, as gymnasium does.

References:
    gymnasium, ``gymnasium/envs/classic_control/acrobot.py`` (1.x); Sutton, "Generalization in
    Reinforcement Learning: Successful Examples Using Sparse Coarse Coding", NeurIPS 1996; Sutton
    and Barto, "Reinforcement Learning: An Introduction", 2018.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from frl import random as fr
from frl._checks import check_dtype, check_values
from frl.envs.env import Env
from frl.envs.specs import Bounded, Categorical

__all__ = ["Acrobot", "AcrobotParams"]

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
_PI = math.pi


@dataclass(frozen=True)
class AcrobotParams:
    """Acrobot-v1's constants (gymnasium's defaults). Physics fields may be tensors [*B]."""

    dt: float = 0.2
    link_length_1: float = 1.0
    link_mass_1: float = 1.0
    link_mass_2: float = 1.0
    link_com_pos_1: float = 0.5
    link_com_pos_2: float = 0.5
    link_moi: float = 1.0
    max_vel_1: float = 4 * _PI
    max_vel_2: float = 9 * _PI
    gravity: float = 9.8
    max_episode_steps: int = 500
    init_range: float = 0.1  # reset: each state variable ~ U(-init_range, init_range)


def _wrap(x: torch.Tensor) -> torch.Tensor:
    # gymnasium subtracts 2 pi in a while loop; within one step an angle moves by less than
    # dt * max_vel_2 + RK4 overshoot, so two conditional subtractions give the same floats.
    for _ in range(2):
        x = torch.where(x > _PI, x - 2 * _PI, x)
        x = torch.where(x < -_PI, x + 2 * _PI, x)
    return x


@dataclass(frozen=True, eq=False)
class Acrobot(Env):
    """Stateless Acrobot-v1. ``frl.envs.make("Acrobot-v1")`` builds one."""

    params: AcrobotParams = field(default_factory=AcrobotParams)
    dtype: torch.dtype = torch.float32
    state_size: int = field(default=4, init=False)

    def __post_init__(self):
        p = self.params
        high = torch.tensor([1.0, 1.0, 1.0, 1.0, p.max_vel_1, p.max_vel_2], dtype=self.dtype)
        object.__setattr__(self, "observation_spec", Bounded(-high, high, (6,), self.dtype))
        object.__setattr__(self, "action_spec", Categorical(3, (), torch.int64))

    def _init_state(self, key):
        r = self.params.init_range
        return fr.uniform(key, (4,), self.dtype, -r, r)

    def _observe(self, state):
        t1, t2, d1, d2 = state.unbind(-1)
        return torch.stack([torch.cos(t1), torch.sin(t1), torch.cos(t2), torch.sin(t2), d1, d2], dim=-1)

    def _check_action(self, fn, action):
        check_dtype(fn, "action", action, _INT_DTYPES)
        return check_values(fn, "action", action, ((action >= 0) & (action <= 2)).all(), "{0, 1, 2}")

    def _dsdt(self, s, a):
        # gymnasium's _dsdt ("book" dynamics), with its expressions in the same order.
        p = self.params
        m1, m2, l1 = p.link_mass_1, p.link_mass_2, p.link_length_1
        lc1, lc2, I1, I2, g = p.link_com_pos_1, p.link_com_pos_2, p.link_moi, p.link_moi, p.gravity
        theta1, theta2, dtheta1, dtheta2 = s
        cos, sin = torch.cos, torch.sin
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos(theta2)) + I1 + I2
        d2 = m2 * (lc2**2 + l1 * lc2 * cos(theta2)) + I2
        phi2 = m2 * lc2 * g * cos(theta1 + theta2 - _PI / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * cos(theta1 - _PI / 2)
            + phi2
        )
        ddtheta2 = (
            a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin(theta2) - phi2
        ) / (m2 * lc2**2 + I2 - d2**2 / d1)
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return (dtheta1, dtheta2, ddtheta1, ddtheta2)

    def _transition(self, state, action):
        p = self.params
        torque = (action - 1).to(self.dtype)
        # Contiguous columns: the physics reads each state variable dozens of times (RK4 inlines
        # four derivative evaluations), and strided reads of [N, 4] columns make inductor's CPU
        # backend give up vectorizing the kernel (its limit is ~35 non-contiguous loads). Stacking
        # to [4, N] costs one copy and lets inductor realize each column once, contiguously.
        y0 = torch.stack(state.unbind(-1)).unbind(0)
        dt = p.dt
        dt2 = dt / 2.0

        def shifted(k, h):
            return tuple(y + h * ki for y, ki in zip(y0, k, strict=True))

        # One classical RK4 step over [0, dt], as gymnasium's rk4(derivs, y0, [0, dt]).
        k1 = self._dsdt(y0, torque)
        k2 = self._dsdt(shifted(k1, dt2), torque)
        k3 = self._dsdt(shifted(k2, dt2), torque)
        k4 = self._dsdt(shifted(k3, dt), torque)
        ns = [y + dt / 6.0 * (a + 2 * b + 2 * c + d) for y, a, b, c, d in zip(y0, k1, k2, k3, k4, strict=True)]
        t1, t2 = _wrap(ns[0]), _wrap(ns[1])
        d1 = torch.clamp(ns[2], -p.max_vel_1, p.max_vel_1)
        d2 = torch.clamp(ns[3], -p.max_vel_2, p.max_vel_2)
        terminated = -torch.cos(t1) - torch.cos(t2 + t1) > 1.0
        reward = torch.where(terminated, 0.0, -1.0).to(self.dtype)
        return torch.stack([t1, t2, d1, d2], dim=-1), reward, terminated
