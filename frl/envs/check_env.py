"""check_env: step a stateless env and validate every output against its specs and contracts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch

from frl import random as fr
from frl.envs.auto_reset import step_and_reset
from frl.envs.env import EnvLike
from frl.envs.rollout import random_action
from frl.envs.specs import Composite

__all__ = ["check_env"]

_FLAGS = ("done", "terminated", "truncated")


def _fail(env: EnvLike, what: str) -> None:
    raise AssertionError(f"frl.envs.check_env({env.name}): {what}")


def _obs_leaves(spec, prefix=()):
    # A Composite observation_spec (host envs with dict observations) describes root entries;
    # any other spec describes "observation".
    if not isinstance(spec, Composite):
        return [(prefix or ("observation",), spec)]
    out = []
    for k, s in spec.items():
        out += _obs_leaves(s, prefix + (k,)) if isinstance(s, Composite) else [(prefix + (k,), s)]
    return out


def _check_layout(env: EnvLike, td, batch, where: str) -> None:
    for key, spec in _obs_leaves(env.observation_spec):
        name = "observation" if key == ("observation",) else f"observation entry {key}"
        if key not in td.keys(include_nested=True):
            _fail(env, f"{where} TensorDict has no {name}")
        obs = td.get(key)
        if tuple(obs.shape) != batch + tuple(spec.shape) or obs.dtype != spec.dtype:
            _fail(env, f"{where} {name} has shape {list(obs.shape)} and dtype {obs.dtype}, expected "
                       f"{list(batch + tuple(spec.shape))} and {spec.dtype}")
        if not bool(spec.is_in(obs)):
            _fail(env, f"{where} {name} is outside observation_spec")
    for k in _FLAGS:
        flag = td.get(k)
        if tuple(flag.shape) != batch + (1,) or flag.dtype != torch.bool:
            _fail(env, f"{where} {k} has shape {list(flag.shape)} and dtype {flag.dtype}, expected "
                       f"{list(batch + (1,))} and bool")
    if not torch.equal(td.get("done"), td.get("terminated") | td.get("truncated")):
        _fail(env, f"{where} done != terminated | truncated")
    if tuple(td.get("key").shape) != batch + (2,):
        _fail(env, f"{where} key has shape {list(td.get('key').shape)}, expected {list(batch + (2,))}")


def check_env(env: EnvLike, batch_size: Sequence[int] | None = None, steps: int = 50, seed: int = 0) -> None:
    """Run ``env`` with random actions and check its outputs, like gymnasium's ``check_env``.

    Checks: reset's layout (observation shape, dtype and spec; done flags False; one key per env);
    reset and step are deterministic given the key; step leaves its input untouched; every step's
    ``("next", ...)`` entries match the specs (observation in ``observation_spec``, reward shaped as
    ``reward_spec``, done flags bool [*B, 1] with ``done == terminated | truncated``), the step count
    advances by one, ``truncated`` is set exactly at ``params.max_episode_steps``, and auto-reset
    starts done envs afresh.

    Host envs (``env.stateful``: `GymEnv`, `DMControlEnv`) keep their state outside the TensorDict,
    so a step cannot be replayed from its input: for them determinism is checked by replaying the
    whole run from the same reset key, and the step-count checks (they have no ``"step_count"``)
    are skipped.

    Args:
        env: an env (stateless, or a host adapter).
        batch_size: the env batch to check with; ``None``: ``(3,)`` for a stateless env, the env's
            own ``batch_size`` for a host env.
        steps: how many steps to run (with auto-reset).
        seed: the seed of the reset and of the random actions.

    Raises:
        AssertionError: ``frl.envs.check_env(<Env>): <what failed>``.

    Example:
        >>> frl.envs.check_env(frl.envs.make("CartPole-v1"))
    """
    stateful = bool(getattr(env, "stateful", False))
    if batch_size is None:
        batch_size = tuple(cast(Any, env).batch_size) if stateful else (3,)
    batch = tuple(int(b) for b in batch_size)
    td = env.reset(fr.key(seed), batch)
    _check_layout(env, td, batch, "reset's")
    if td.get("done").any() or ("step_count" in td.keys() and (td.get("step_count") != 0).any()):
        _fail(env, "reset's done flags and step_count must be False / 0")
    if not (td == env.reset(fr.key(seed), batch)).all():
        _fail(env, "reset is not deterministic given its key")
    if stateful:
        td = env.reset(fr.key(seed), batch)  # the host env now restarts from the same key
    outs = []
    for t in range(steps):
        td = random_action(env, td)
        if not bool(env.action_spec.is_in(td.get("action"))):
            _fail(env, f"step {t}: action_spec.sample gave an action outside action_spec")
        before = td.clone()
        out, nxt = step_and_reset(env, td)
        if not (td == before).all():
            _fail(env, f"step {t}: step modified its input")
        if stateful:
            outs.append(out)
        else:
            again, _ = step_and_reset(env, before)
            if not (again == out).all():
                _fail(env, f"step {t}: step is not deterministic given its input")
        n = out.get("next")
        _check_layout(env, n, batch, f"step {t}'s next")
        r = n.get("reward")
        if tuple(r.shape) != batch + tuple(env.reward_spec.shape) or not bool(env.reward_spec.is_in(r)):
            _fail(env, f"step {t}: reward has shape {list(r.shape)} or values outside reward_spec")
        done = n.get("done")
        _check_layout(env, nxt, batch, f"step {t}'s auto-reset")
        if "step_count" in n.keys():
            count = n.get("step_count")
            if not torch.equal(count, td.get("step_count") + 1):
                _fail(env, f"step {t}: step_count did not advance by one")
            limit = getattr(getattr(env, "params", None), "max_episode_steps", None)
            # No limit (a ModelEnv without a horizon): nothing may truncate.
            expected = count >= limit if limit is not None else torch.zeros_like(count, dtype=torch.bool)
            if not torch.equal(n.get("truncated"), expected):
                _fail(env, f"step {t}: truncated is not set exactly at max_episode_steps")
            if not torch.equal(nxt.get("step_count"), torch.where(done, 0, count)):
                _fail(env, f"step {t}: auto-reset did not start the done envs afresh")
        if nxt.get("done").any():
            _fail(env, f"step {t}: auto-reset did not start the done envs afresh")
        td = nxt
    if stateful:
        td = env.reset(fr.key(seed), batch)
        for t, out in enumerate(outs):
            td = random_action(env, td)
            again, td = step_and_reset(env, td)
            if not (again == out).all():
                _fail(env, f"step {t}: a replay from the same reset key gave another output")
