"""make: build an env by its gymnasium id, with its constants overridden by keyword."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from frl._checks import fail
from frl.envs.acrobot import Acrobot, AcrobotParams
from frl.envs.cartpole import CartPole, CartPoleParams
from frl.envs.env import Env
from frl.envs.mountain_car import MountainCar, MountainCarParams
from frl.envs.mountain_car_continuous import MountainCarContinuous, MountainCarContinuousParams
from frl.envs.pendulum import Pendulum, PendulumParams

__all__ = ["make", "registry"]

# id -> (env class, params class)
registry: dict[str, tuple[Callable[..., Env], type]] = {
    "Pendulum-v1": (Pendulum, PendulumParams),
    "CartPole-v1": (CartPole, CartPoleParams),
    "MountainCar-v0": (MountainCar, MountainCarParams),
    "MountainCarContinuous-v0": (MountainCarContinuous, MountainCarContinuousParams),
    "Acrobot-v1": (Acrobot, AcrobotParams),
}


def make(id: str, *, dtype: torch.dtype = torch.float32, **params) -> Env:  # noqa: A002 (gymnasium's name)
    """Build a stateless env by its gymnasium id.

    Args:
        id: one of ``frl.envs.registry`` (``"Pendulum-v1"``, ``"CartPole-v1"``, ...).
        dtype: the dtype of state, observation and reward (float32; float64 for exact agreement
            with gymnasium's float64 physics).
        **params: overrides of the env's params dataclass, e.g. ``g=9.81`` or
            ``max_episode_steps=1000``.

    Returns:
        The env (a frozen dataclass: ``env.reset``, ``env.step``, ``env.*_spec``).

    Example:
        >>> env = frl.envs.make("Pendulum-v1", g=9.81)
        >>> env.params.g
        9.81
    """
    fn = "frl.envs.make"
    if id not in registry:
        fail(fn, f"unknown env id {id!r}; known: {', '.join(sorted(registry))}", KeyError)
    env_cls, params_cls = registry[id]
    names = {f.name for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(params) - names)
    if unknown:
        fail(fn, f"{id} has no parameter {', '.join(unknown)}; its parameters are {', '.join(sorted(names))}",
             TypeError)
    return env_cls(params=params_cls(**params), dtype=dtype)
