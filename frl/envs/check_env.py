"""check_env: step a stateless env and validate every output against its specs and contracts."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from frl import random as fr
from frl.envs.auto_reset import step_and_reset
from frl.envs.env import Env
from frl.envs.rollout import random_action

__all__ = ["check_env"]

_FLAGS = ("done", "terminated", "truncated")


def _fail(env: Env, what: str) -> None:
    raise AssertionError(f"frl.envs.check_env({env.name}): {what}")


def _check_layout(env: Env, td, batch, where: str) -> None:
    obs = td.get("observation")
    if tuple(obs.shape) != batch + tuple(env.observation_spec.shape) or obs.dtype != env.observation_spec.dtype:
        _fail(env, f"{where} observation has shape {list(obs.shape)} and dtype {obs.dtype}, expected "
                   f"{list(batch + tuple(env.observation_spec.shape))} and {env.observation_spec.dtype}")
    if not bool(env.observation_spec.is_in(obs)):
        _fail(env, f"{where} observation is outside observation_spec")
    for k in _FLAGS:
        flag = td.get(k)
        if tuple(flag.shape) != batch + (1,) or flag.dtype != torch.bool:
            _fail(env, f"{where} {k} has shape {list(flag.shape)} and dtype {flag.dtype}, expected "
                       f"{list(batch + (1,))} and bool")
    if not torch.equal(td.get("done"), td.get("terminated") | td.get("truncated")):
        _fail(env, f"{where} done != terminated | truncated")
    if tuple(td.get("key").shape) != batch + (2,):
        _fail(env, f"{where} key has shape {list(td.get('key').shape)}, expected {list(batch + (2,))}")


def check_env(env: Env, batch_size: Sequence[int] = (3,), steps: int = 50, seed: int = 0) -> None:
    """Run ``env`` with random actions and check its outputs, like gymnasium's ``check_env``.

    Checks: reset's layout (observation shape, dtype and spec; done flags False; one key per env);
    reset and step are deterministic given the key; step leaves its input untouched; every step's
    ``("next", ...)`` entries match the specs (observation in ``observation_spec``, reward shaped as
    ``reward_spec``, done flags bool [*B, 1] with ``done == terminated | truncated``), the step count
    advances by one, ``truncated`` is set exactly at ``params.max_episode_steps``, and auto-reset
    starts done envs afresh.

    Args:
        env: a stateless env.
        batch_size: the env batch to check with.
        steps: how many steps to run (with auto-reset).
        seed: the seed of the reset and of the random actions.

    Raises:
        AssertionError: ``frl.envs.check_env(<Env>): <what failed>``.

    Example:
        >>> frl.envs.check_env(frl.envs.make("CartPole-v1"))
    """
    batch = tuple(int(b) for b in batch_size)
    td = env.reset(fr.key(seed), batch)
    _check_layout(env, td, batch, "reset's")
    if td.get("done").any() or (td.get("step_count") != 0).any():
        _fail(env, "reset's done flags and step_count must be False / 0")
    if not (td == env.reset(fr.key(seed), batch)).all():
        _fail(env, "reset is not deterministic given its key")
    for t in range(steps):
        td = random_action(env, td)
        if not bool(env.action_spec.is_in(td.get("action"))):
            _fail(env, f"step {t}: action_spec.sample gave an action outside action_spec")
        before = td.clone()
        out, nxt = step_and_reset(env, td)
        if not (td == before).all():
            _fail(env, f"step {t}: step modified its input")
        again, _ = step_and_reset(env, before)
        if not (again == out).all():
            _fail(env, f"step {t}: step is not deterministic given its input")
        n = out.get("next")
        _check_layout(env, n, batch, f"step {t}'s next")
        r = n.get("reward")
        if tuple(r.shape) != batch + tuple(env.reward_spec.shape) or not bool(env.reward_spec.is_in(r)):
            _fail(env, f"step {t}: reward has shape {list(r.shape)} or values outside reward_spec")
        count = n.get("step_count")
        if not torch.equal(count, td.get("step_count") + 1):
            _fail(env, f"step {t}: step_count did not advance by one")
        if not torch.equal(n.get("truncated"), count >= env.params.max_episode_steps):
            _fail(env, f"step {t}: truncated is not set exactly at max_episode_steps")
        _check_layout(env, nxt, batch, f"step {t}'s auto-reset")
        done = n.get("done")
        if nxt.get("done").any() or not torch.equal(nxt.get("step_count"), torch.where(done, 0, count)):
            _fail(env, f"step {t}: auto-reset did not start the done envs afresh")
        td = nxt
