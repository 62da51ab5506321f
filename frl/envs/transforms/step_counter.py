"""StepCounter and TimeLimit: count the steps of each episode, and truncate at a limit."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from frl._checks import check_keys, fail
from frl.envs.specs import Unbounded
from frl.envs.transforms._base import Transform, td_device

__all__ = ["StepCounter", "TimeLimit"]


class StepCounter(Transform):
    """Count the steps of each episode in ``"step_count"`` [*B, 1] int64; truncate at ``max_steps``.

    A reset sets the count to 0; each step writes ``("next", "step_count") = td["step_count"] + 1``.
    With ``max_steps``, ``("next", "truncated")`` is set where the count reaches ``max_steps`` and
    ``("next", "done")`` follows (``done = terminated | truncated``), so auto-reset starts those envs
    afresh. frl's stateless envs keep a ``"step_count"`` of their own for their built-in time limit;
    this transform writes the same numbers under the same key (both restart whenever an env is done).
    A limit ends episodes the base env would continue, so the base env's auto-reset must be able to
    reset any env on request: the stateless envs and ``GymEnv`` can (a vectorized ``GymEnv`` asks
    gymnasium to reset just those envs, with its ``reset_mask`` option).

    Args:
        max_steps: the time limit, or None to count only.
        step_count_key: where to keep the count (TorchRL's ``"step_count"``).
        update_done: also set ``"truncated"`` and ``"done"`` at the limit.

    Example:
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1"), StepCounter(max_steps=50))

    References:
        TorchRL, ``torchrl.envs.transforms.StepCounter``; gymnasium, ``gymnasium.wrappers.TimeLimit``.
    """

    def __init__(self, max_steps: int | None = None, *, step_count_key: str = "step_count",
                 update_done: bool = True):
        super().__init__()
        if max_steps is not None and int(max_steps) < 1:
            fail(self.name, f"max_steps={max_steps}, expected at least 1 (or None)")
        self.max_steps = None if max_steps is None else int(max_steps)
        self.step_count_key = step_count_key
        self.update_done = bool(update_done)

    def _reset(self, td, prev):
        out = td.copy()
        out.set(self.step_count_key, torch.zeros(tuple(td.batch_size) + (1,), dtype=torch.int64,
                                                 device=td_device(td)))
        return out

    def _step(self, td, next_td):
        check_keys(self.name, td, (self.step_count_key,), "step's input")
        count = td.get(self.step_count_key) + 1
        out = next_td.copy()
        out.set(self.step_count_key, count)
        if self.max_steps is not None and self.update_done:
            check_keys(self.name, next_td, ("truncated", "done"), "step's next")
            truncated = next_td.get("truncated") | (count >= self.max_steps)
            out.set("truncated", truncated)
            out.set("done", next_td.get("done") | truncated)
        return out

    def transform_observation_spec(self, specs):
        specs = dict(specs)
        specs[self.step_count_key] = Unbounded((1,), torch.int64)
        return specs

    def transform_params(self, params: Any) -> Any:
        # The base env's own time limit (in its params) becomes the lower of the two.
        limit = getattr(params, "max_episode_steps", None)
        if (self.max_steps is not None and limit is not None and dataclasses.is_dataclass(params)
                and not isinstance(params, type)):
            return dataclasses.replace(params, max_episode_steps=min(limit, self.max_steps))
        return params

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_steps={self.max_steps})"


class TimeLimit(StepCounter):
    """Truncate each episode after ``max_steps`` steps: a `StepCounter` whose limit is required.

    Args:
        max_steps: the time limit (gymnasium's ``max_episode_steps``).

    Example:
        >>> env = TransformedEnv(frl.envs.make("CartPole-v1"), TimeLimit(100))

    References:
        gymnasium, ``gymnasium.wrappers.TimeLimit``.
    """

    def __init__(self, max_steps: int, *, step_count_key: str = "step_count"):
        super().__init__(max_steps, step_count_key=step_count_key, update_done=True)
