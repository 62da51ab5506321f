"""Tiny envs for the transform tests: exact arithmetic, images, and a host-style (stateful) env."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from frl import envs
from frl.envs import Bounded, Categorical, Env
from frl.envs.step_mdp import step_mdp
from frl.envs.auto_reset import where_td


@dataclass(frozen=True)
class CountParams:
    max_episode_steps: int = 100
    threshold: float = 3.0


@dataclass(frozen=True, eq=False)
class CountEnv(Env):
    """x starts at 0; action a in [-1, 1] gives x' = x + a, reward x', terminated when x' >= threshold.

    Observation (x, 2x): every number in the tests is exact.
    """

    params: CountParams = field(default_factory=CountParams)
    dtype: torch.dtype = torch.float32
    state_size: int = field(default=1, init=False)

    def __post_init__(self):
        object.__setattr__(self, "observation_spec", Bounded(-100.0, 100.0, (2,), self.dtype))
        object.__setattr__(self, "action_spec", Bounded(-1.0, 1.0, (1,), torch.float32))

    def _init_state(self, key):
        return torch.zeros(1, dtype=self.dtype, device=key.device)

    def _observe(self, state):
        return torch.cat([state, 2 * state], dim=-1)

    def _check_action(self, fn, action):
        return action

    def _transition(self, state, action):
        new = state + action.to(self.dtype)
        return new, new[..., 0], new[..., 0] >= self.params.threshold


@dataclass(frozen=True)
class ImageParams:
    max_episode_steps: int = 100


@dataclass(frozen=True, eq=False)
class ImageEnv(Env):
    """uint8 RGB images [H, W, 3] that change with a counter t: pixel i is (t + 37 i) mod 256."""

    params: ImageParams = field(default_factory=ImageParams)
    dtype: torch.dtype = torch.float32
    state_size: int = field(default=1, init=False)
    hw: tuple = (4, 6)

    def __post_init__(self):
        h, w = self.hw
        object.__setattr__(self, "observation_spec", Bounded(0, 255, (h, w, 3), torch.uint8))
        object.__setattr__(self, "action_spec", Categorical(2))

    def _init_state(self, key):
        return (key[..., :1] % 7).to(self.dtype)

    def _observe(self, state):
        h, w = self.hw
        i = torch.arange(h * w * 3, device=state.device).reshape(h, w, 3)
        t = state.to(torch.int64).reshape(tuple(state.shape[:-1]) + (1, 1, 1))
        return ((t + 37 * i) % 256).to(torch.uint8)

    def _check_action(self, fn, action):
        return action

    def _transition(self, state, action):
        new = state + 1 + action.unsqueeze(-1).to(self.dtype)
        return new, torch.zeros_like(new[..., 0]), torch.zeros_like(new[..., 0], dtype=torch.bool)


class HostEnv:
    """A host-style env: keeps its physical state on the object (as GymEnv keeps gymnasium's), and
    resets done envs in its own ``auto_reset(td)``. Steps a stateless env underneath, eagerly."""

    def __init__(self, env):
        self.env = env
        self.observation_spec = env.observation_spec
        self.action_spec = env.action_spec
        self.reward_spec = env.reward_spec
        self.done_spec = env.done_spec
        self.params = env.params
        self.name = "HostEnv"
        self._state: Any = None  # the live simulator state, set by reset

    def reset(self, key=None, batch_size=(), *, seed=None):
        td = self.env.reset(key, batch_size, seed=seed)
        self._state = td.get("state")
        return td.exclude("state")

    def step(self, td):
        full = td.copy()
        full.set("state", self._state)
        out = self.env.step(full)
        self._state = out.get(("next", "state"))
        res = td.copy()
        res.set("next", out.get("next").exclude("state"))
        return res

    def auto_reset(self, td):
        done = td.get(("next", "done"))
        fresh = self.env.init(td.get(("next", "key")))
        self._state = torch.where(done, fresh.get("state"), self._state)
        return where_td(done, fresh.exclude("state"), step_mdp(td))


def count_env(**params):
    return CountEnv(params=CountParams(**params))


def pendulum(**params):
    return envs.make("Pendulum-v1", **params)


class DictHostEnv(HostEnv):
    """HostEnv over Pendulum with a dict observation (as GymEnv gives for a Dict space):
    ``"angle"`` (cos, sin) and ``"velocity"`` [1], described by a Composite spec."""

    def __init__(self, env):
        super().__init__(env)
        high = env.observation_spec.high
        self.observation_spec = envs.Composite({"angle": Bounded(-high[:2], high[:2], (2,)),
                                                "velocity": Bounded(-high[2:], high[2:], (1,))})

    @staticmethod
    def _split(td):
        obs = td.get("observation")
        out = td.exclude("observation")
        out.set("angle", obs[..., :2])
        out.set("velocity", obs[..., 2:])
        return out

    def reset(self, key=None, batch_size=(), *, seed=None):
        return self._split(super().reset(key, batch_size, seed=seed))

    def step(self, td):
        out = super().step(td)
        out.set("next", self._split(out.get("next")))
        return out

    def auto_reset(self, td):
        done = td.get(("next", "done"))
        fresh = self._split(self.env.init(td.get(("next", "key"))))
        self._state = torch.where(done, fresh.get("state"), self._state)
        return where_td(done, fresh.exclude("state"), step_mdp(td))
