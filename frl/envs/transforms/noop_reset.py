"""NoopReset: start each episode with a random number of no-op steps, drawn from the env's key."""

from __future__ import annotations

import torch

from frl import random as fr
from frl._checks import check_keys, fail
from frl.envs.auto_reset import where_td
from frl.envs.env import map_keys
from frl.envs.step_mdp import step_mdp
from frl.envs.transforms._base import Transform

__all__ = ["NoopReset"]


class NoopReset(Transform):
    """After each reset, step the parent env ``n`` times with a no-op action, ``n`` drawn per env.

    ``n`` is uniform in ``{0, ..., noops - 1}`` (TorchRL's ``NoopResetEnv(random=True)``) or exactly
    ``noops`` (``random=False``), drawn from each env's ``"key"`` (which is split, so the next reset
    draws anew). The no-op is ``action`` or the parent's ``action_spec.zero()`` (action 0, Atari's
    NOOP; zero torque). A no-op step that would end the episode is not taken, and the env stops
    there. Vectorized: every env runs the largest number of steps, masked with ``torch.where``, so
    an auto-reset costs up to ``noops`` extra parent steps for the whole batch (compiled, they unroll).

    The no-ops step the parent env on every env of the batch, so on auto-reset they need a stateless
    parent (one with ``init``); over a host adapter, NoopReset works on ``reset`` only and raises on
    auto-reset. For gymnasium envs, take the no-ops inside each env instead, with a gymnasium
    wrapper: ``GymEnv(id, wrappers=[functools.partial(gymnasium.wrappers.AtariPreprocessing,
    noop_max=30)])`` (Atari).

    Args:
        noops: the bound on the number of no-ops.
        random: draw the number (True) or always take ``noops`` (False).
        action: the no-op action of one env (default: ``action_spec.zero()`` of the parent env).

    Example:
        >>> env = TransformedEnv(frl.envs.make("CartPole-v1"), NoopReset(noops=10))

    References:
        TorchRL, ``torchrl.envs.transforms.NoopResetEnv``; Mnih et al., "Human-level control through
        deep reinforcement learning", 2015.
    """

    def __init__(self, noops: int = 30, random: bool = True, action: torch.Tensor | None = None):
        super().__init__()
        if int(noops) < 1:
            fail(self.name, f"noops={noops}, expected at least 1")
        self.noops, self.random, self.action = int(noops), bool(random), action

    def _reset(self, td, prev):
        parent = self._need_parent()
        if prev is not None and getattr(parent, "init", None) is None:
            fail(self.name, "no-ops on auto-reset step every env of the batch, which a host env cannot "
                            "undo: use NoopReset over a stateless env, or take the no-ops inside each "
                            "gymnasium env with GymEnv(..., wrappers=[...]) (e.g. AtariPreprocessing's "
                            "noop_max)", NotImplementedError)
        check_keys(self.name, td, ("key",), "reset")
        batch = tuple(td.batch_size)
        noops = self.noops

        def draw(k):
            k_n, k_next = fr.split(k)
            n = fr.randint(k_n, (), 0, noops) if self.random else torch.full((), noops, dtype=torch.int64)
            return n, k_next

        n, key = map_keys(draw, td.get("key"))
        cur = td.copy()
        cur.set("key", key)
        spec = parent.action_spec
        action = spec.zero(batch) if self.action is None else torch.as_tensor(self.action).expand(
            batch + tuple(spec.shape))
        stopped = torch.zeros(batch, dtype=torch.bool, device=n.device)
        steps = noops - 1 if self.random else noops
        for i in range(steps):
            stepped = parent.step(_with(cur, "action", action))
            ended = stepped.get(("next", "done")).reshape(batch)
            active = (n > i) & ~stopped
            take = active & ~ended
            stopped = stopped | (active & ended)
            nxt = step_mdp(stepped)
            cur = where_td(take, nxt, cur)
        return cur

    def __repr__(self) -> str:
        return f"NoopReset(noops={self.noops}, random={self.random})"


def _with(td, key, value):
    out = td.copy()
    out.set(key, value)
    return out
