"""rollout: run a policy in a stateless env for a fixed number of steps, stacking time last."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from tensordict import TensorDictBase

from frl import random as fr
from frl._checks import check_keys, fail
from frl.envs.auto_reset import step_and_reset
from frl.envs.env import EnvLike, map_keys
from frl.envs.step_mdp import step_mdp

__all__ = ["rollout", "random_action"]


def random_action(env: EnvLike, td: TensorDictBase) -> TensorDictBase:
    """A uniformly random policy: sets ``"action"`` from ``env.action_spec``, drawn from each env's key.

    The action is drawn from each env's ``"key"``, which is then replaced by a key split from it
    (``frl.random`` keeps draws and splits of one key apart), so that the policy stays pure and the
    next call draws new actions.

    Args:
        env: the env whose ``action_spec`` is sampled.
        td: TensorDict [*B] with ``"key"`` [*B, 2].

    Returns:
        A shallow copy of ``td`` with ``"action"`` [*B, *action_spec.shape] and a new ``"key"``.
    """
    check_keys("frl.envs.random_action", td, ("key",))

    def one(k):
        # One split instead of two: draws and splits of a key use separate counter domains.
        return env.action_spec.sample(k), fr.split(k, 1)[0]

    action, key = map_keys(one, td.get("key"))
    out = td.copy()
    out.set("action", action)
    out.set("key", key)
    return out


def rollout(env: EnvLike, policy: Callable[[TensorDictBase], TensorDictBase] | None, td: TensorDictBase,
            steps: int, *, auto_reset: bool = True) -> TensorDictBase:
    """Run ``steps`` steps of ``policy`` in ``env`` from ``td``; returns the transitions, time last.

    Each step is ``policy -> env.step -> step_mdp`` (with auto-reset: `step_and_reset`). The loop is
    a Python loop: under torch.compile it unrolls ``steps`` times, which is fine for tens of steps;
    for long rollouts compile one step (``torch.compile(lambda td: step_and_reset(env, policy(td)))``)
    and loop over it in Python.

    Args:
        env: a stateless env.
        policy: ``td -> td`` that sets ``"action"`` (pure); ``None`` draws uniform random actions from
            ``env.action_spec`` with each env's key (`random_action`).
        td: TensorDict [*B] from ``env.reset`` (or the last step of a previous rollout's follow-up).
        steps: the number of steps T.
        auto_reset: reset done envs (`auto_reset`). With False, done envs are stepped on from their
            final state (gymnasium would call that undefined): cut the rollout at ``done`` yourself.

    Returns:
        TensorDict [*B, T]: at each step the policy's input and output, the action, and ``"next"``
        (observation, reward, done, terminated, truncated, state, ...). To continue, start the next
        rollout from ``step_mdp`` / ``auto_reset`` of its last step.

    Example:
        >>> env = frl.envs.make("Pendulum-v1")
        >>> traj = frl.envs.rollout(env, None, env.reset(seed=0, batch_size=(8,)), steps=200)
        >>> traj["next", "reward"].shape
        torch.Size([8, 200, 1])
    """
    fn = "frl.envs.rollout"
    if steps < 1:
        fail(fn, f"steps={steps}, expected at least 1")
    if policy is None:
        def random_policy(t):
            return random_action(env, t)
        policy = random_policy
    frames = []
    for _ in range(int(steps)):
        td = policy(td)
        if auto_reset:
            out, td = step_and_reset(env, td)
        else:
            out = env.step(td)
            td = step_mdp(out)
        frames.append(out)
    return cast(TensorDictBase, torch.stack(frames, dim=len(frames[0].batch_size)))  # tensordict's torch.stack
