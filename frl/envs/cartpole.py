"""CartPole-v1 as a stateless, batched, pure-torch env: gymnasium's dynamics step for step.

A pole is hinged on a cart moving on a track; push the cart left or right to keep the pole up.
State and observation ``(x, x_dot, theta, theta_dot)``. Action: an int64 index [*B] in {0, 1}
(0 pushes left, 1 right): TorchRL's ``Categorical`` layout (``GymEnv(...,
categorical_action_encoding=True)``), which is what a categorical policy samples. Reward 1 per step,
the terminating step included. Terminated when ``|x| > 2.4`` or ``|theta| > 12 degrees``;
truncated after 500 steps.

References:
    gymnasium, ``gymnasium/envs/classic_control/cartpole.py`` (1.x); Barto, Sutton and Anderson,
    "Neuronlike adaptive elements that can solve difficult learning control problems", 1983.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from frl import random as fr
from frl._checks import check_dtype, check_values
from frl.envs.env import Env
from frl.envs.specs import Bounded, Categorical

__all__ = ["CartPole", "CartPoleParams"]

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


@dataclass(frozen=True)
class CartPoleParams:
    """CartPole-v1's constants (gymnasium's defaults). Physics fields may be tensors [*B] (one per env)."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length
    force_mag: float = 10.0
    tau: float = 0.02  # seconds between state updates
    euler: bool = True  # gymnasium's kinematics_integrator == "euler"; False: semi-implicit Euler
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_episode_steps: int = 500
    # gymnasium's sutton_barto_reward: reward 0 per step and -1 on termination.
    sutton_barto_reward: bool = False
    init_range: float = 0.05  # reset: each state variable ~ U(-init_range, init_range)

    @property
    def total_mass(self):
        return self.masspole + self.masscart

    @property
    def polemass_length(self):
        return self.masspole * self.length


@dataclass(frozen=True, eq=False)
class CartPole(Env):
    """Stateless CartPole-v1. ``frl.envs.make("CartPole-v1")`` builds one.

    Args:
        params: the constants (`CartPoleParams`).
        dtype: the dtype of the state, observation and reward (float32 by default; float64
            reproduces gymnasium's float64 physics).

    Example:
        >>> env = CartPole()
        >>> td = env.reset(seed=0, batch_size=(1024,))
        >>> td = env.step(td.set("action", torch.ones(1024, dtype=torch.int64)))
    """

    params: CartPoleParams = field(default_factory=CartPoleParams)
    dtype: torch.dtype = torch.float32
    state_size: int = field(default=4, init=False)

    def __post_init__(self):
        p = self.params
        high = torch.tensor([p.x_threshold * 2, torch.finfo(self.dtype).max,
                             p.theta_threshold_radians * 2, torch.finfo(self.dtype).max], dtype=self.dtype)
        object.__setattr__(self, "observation_spec", Bounded(-high, high, (4,), self.dtype))
        object.__setattr__(self, "action_spec", Categorical(2, (), torch.int64))

    def _init_state(self, key):
        r = self.params.init_range
        return fr.uniform(key, (4,), self.dtype, -r, r)

    def _observe(self, state):
        # A copy, not the state itself: aliased entries would make compiled steps guard on aliasing.
        return state.clone()

    def _check_action(self, fn, action):
        check_dtype(fn, "action", action, _INT_DTYPES)
        return check_values(fn, "action", action, ((action == 0) | (action == 1)).all(), "{0, 1}")

    def _transition(self, state, action):
        p = self.params
        x, x_dot, theta, theta_dot = state.unbind(-1)
        force = torch.where(action == 1, p.force_mag, -p.force_mag).to(self.dtype)
        costheta, sintheta = torch.cos(theta), torch.sin(theta)
        # The order of the products follows gymnasium's, so that float64 runs agree to the last bit.
        temp = (force + p.polemass_length * theta_dot**2 * sintheta) / p.total_mass
        thetaacc = (p.gravity * sintheta - costheta * temp) / (
            p.length * (4.0 / 3.0 - p.masspole * costheta**2 / p.total_mass))
        xacc = temp - p.polemass_length * thetaacc * costheta / p.total_mass
        if p.euler:
            x, x_dot = x + p.tau * x_dot, x_dot + p.tau * xacc
            theta, theta_dot = theta + p.tau * theta_dot, theta_dot + p.tau * thetaacc
        else:
            x_dot = x_dot + p.tau * xacc
            x = x + p.tau * x_dot
            theta_dot = theta_dot + p.tau * thetaacc
            theta = theta + p.tau * theta_dot
        terminated = ((x < -p.x_threshold) | (x > p.x_threshold)
                      | (theta < -p.theta_threshold_radians) | (theta > p.theta_threshold_radians))
        if p.sutton_barto_reward:
            reward = torch.where(terminated, -1.0, 0.0).to(self.dtype)
        else:
            reward = torch.ones_like(x)
        return torch.stack([x, x_dot, theta, theta_dot], dim=-1), reward, terminated
