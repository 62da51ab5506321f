"""Small host envs for the collector tests: stateful Python objects that follow frl's env protocol.

`CounterEnv` keeps its state in numpy arrays (as a gymnasium adapter does) and defines
``auto_reset(td)``, so the collectors run it in a host loop. Env i's episodes last
``lengths[i]`` steps; the observation is ``[count, i]``; the reward is ``action + 1``. It can be
told to raise, or to kill its own process, at a given step (for the async collector's failure tests).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from tensordict import TensorDict

from frl.envs.specs import Bounded, Categorical, Composite, Unbounded


class CounterEnv:
    """A batch of counters; see the module docstring."""

    def __init__(self, lengths=(2, 3, 5), raise_at: int | None = None, exit_at: int | None = None):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.num_envs = len(self.lengths)
        self.raise_at, self.exit_at = raise_at, exit_at
        self.count = np.zeros(self.num_envs, dtype=np.int64)
        self.steps = 0
        self.observation_spec = Unbounded((2,), torch.float32)
        self.action_spec = Categorical(2)
        self.reward_spec = Unbounded((1,), torch.float32)
        flag = Bounded(False, True, (1,), torch.bool)
        self.done_spec = Composite({"done": flag, "terminated": flag, "truncated": flag})

    def _obs(self):
        return torch.from_numpy(np.stack([self.count, np.arange(self.num_envs)], -1).astype(np.float32))

    def _flags(self, done):
        d = torch.from_numpy(done.copy()).reshape(self.num_envs, 1)
        return {"done": d, "terminated": d.clone(), "truncated": torch.zeros_like(d)}

    def reset(self, key=None, batch_size=(), *, seed=None):
        self.count[:] = 0
        keys = torch.zeros(self.num_envs, 2, dtype=torch.int64)
        return TensorDict({"observation": self._obs(), "key": keys,
                           **self._flags(np.zeros(self.num_envs, bool))}, batch_size=[self.num_envs])

    def step(self, td):
        self.steps += 1
        if self.raise_at is not None and self.steps >= self.raise_at:
            raise RuntimeError(f"CounterEnv: planned failure at step {self.steps}")
        if self.exit_at is not None and self.steps >= self.exit_at:
            os._exit(3)
        action = td.get("action").numpy()
        self.count += 1
        done = self.count >= self.lengths
        nxt = TensorDict({"observation": self._obs(), "key": td.get("key"),
                          "reward": torch.from_numpy((action + 1).astype(np.float32)).reshape(-1, 1),
                          **self._flags(done)}, batch_size=[self.num_envs])
        out = td.copy()
        out.set("next", nxt)
        return out

    def auto_reset(self, td):
        done = td.get(("next", "done")).reshape(-1).numpy()
        self.count[done] = 0
        return TensorDict({"observation": self._obs(), "key": td.get(("next", "key")),
                           **self._flags(np.zeros(self.num_envs, bool))}, batch_size=[self.num_envs])


def counter_policy(params, td, key=None):
    """Action = params["a"] in every env: which weights a batch used can be read from its actions."""
    out = td.copy()
    out.set("action", params["a"].expand(td.batch_size).clone())
    return out
