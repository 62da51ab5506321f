"""Auto-reset as a pure function: envs that are done start a new episode, drawn from their own key."""

from __future__ import annotations

from typing import Any, cast

import torch
from tensordict import TensorDict, TensorDictBase

from frl._checks import check_keys
from frl.envs.env import Env, EnvLike
from frl.envs.step_mdp import step_mdp

__all__ = ["auto_reset", "step_and_reset"]


def where_td(mask: torch.Tensor, new: TensorDictBase, old: TensorDictBase) -> TensorDictBase:
    """Per leaf ``torch.where(mask, new, old)``; ``mask`` is bool [*B, 1] or [*B]; leaves only in ``new`` kept.

    ``old`` fixes the result's structure: a leaf of ``old`` missing from ``new`` is kept as is.
    """
    nb = len(old.batch_size)
    mask = mask.reshape(tuple(mask.shape[:nb]))
    out = old.copy()
    old_keys = set(old.keys(include_nested=True, leaves_only=True))
    for k in new.keys(include_nested=True, leaves_only=True):
        v = new.get(k)
        if k in old_keys:
            w = old.get(k)
            m = mask.reshape(tuple(mask.shape) + (1,) * (v.dim() - nb))
            out.set(k, torch.where(m, v, w))
        else:
            out.set(k, v)
    return out



def auto_reset(env: EnvLike, td: TensorDictBase) -> TensorDict:
    """The input of the next step after ``td = env.step(...)``, with done envs reset.

    Where ``("next", "done")`` is set, the env's entries (``"observation"``, ``"state"``,
    ``"step_count"``, ``"key"``, the done flags) are replaced by a fresh episode drawn from the env's
    own ``("next", "key")``; elsewhere they are those of ``step_mdp(td)``. The final observation of
    an ended episode stays in ``td["next", "observation"]``, for bootstrapping. Vectorized with
    ``torch.where`` (every env draws a candidate reset, the done ones keep it), so it runs under
    vmap and compiles with ``fullgraph=True``.

    An env class may define its own ``auto_reset(td)`` method with this contract (the host adapters
    and wrapper envs do); this function then delegates to it.

    Args:
        env: the env that produced ``td``.
        td: the output of ``env.step``: TensorDict [*B] with ``"next"``.

    Returns:
        A new TensorDict [*B], ready for the policy and the next ``env.step``.

    References:
        TorchRL, ``EnvBase.step_and_maybe_reset``; gymnax, ``Environment.step``.
    """
    # Envs whose reset is not "draw env.init from the carried key" (host adapters that gymnasium
    # resets itself, transformed envs, model envs) define their own ``auto_reset(td)`` method.
    own = getattr(env, "auto_reset", None)
    if own is not None:
        return own(td)
    fn = "frl.envs.auto_reset"
    check_keys(fn, td, (("next", "done"), ("next", "key")))
    nxt = step_mdp(td)
    done = td.get(("next", "done"))
    if not isinstance(env, Env) or type(env).init is not Env.init:  # a custom init is honoured as is
        # Every env auto-reset reaches here has an init (TransformedEnv over a stateless base, ModelEnv).
        return where_td(done, cast(Any, env).init(nxt.get("key")), nxt)
    # A stateless env's observation is a function of its state: merge the states, then observe
    # once. Observing every env's candidate reset state and merging observations computes the
    # observation twice per env, and inductor compiles that second pass (strided reset draws into
    # strided observation columns) into scalar loops: for Acrobot, scalar sin / cos per env.
    # The state is merged column by column for the same reason: a merge over [*B, S] runs an inner
    # loop of S that inductor does not vectorize, and recomputes the done flag (for Acrobot, two
    # cosines) in every iteration of it.
    fresh = TensorDict(env._fresh_episodes(nxt.get("key")), batch_size=nxt.batch_size)
    out = where_td(done, fresh.exclude("state"), nxt)
    d = done[..., 0]
    columns = zip(fresh.get("state").unbind(-1), nxt.get("state").unbind(-1), strict=True)
    out.set("state", torch.stack([torch.where(d, f, s) for f, s in columns], -1))
    out.set("observation", env._observe(out.get("state")))
    return out


def step_and_reset(env: EnvLike, td: TensorDictBase) -> tuple[TensorDictBase, TensorDict]:
    """One step with auto-reset: ``(env.step(td), auto_reset(env, env.step(td)))``.

    The first output is the transition to store (its ``"next"`` holds the true next observation, the
    final one at an episode's end); the second is the input of the next step, where done envs have
    started a new episode. The same contract as TorchRL's ``env.step_and_maybe_reset``.

    Args:
        env: a stateless env (``frl.envs.make(...)``).
        td: TensorDict [*B] with ``"action"`` and the env's state (from `Env.reset` or a previous call).

    Returns:
        ``(td_out, td_next)``, both [*B].

    Example:
        >>> env = frl.envs.make("CartPole-v1")
        >>> td = env.reset(seed=0, batch_size=(16,))
        >>> for _ in range(100):
        ...     td = td.set("action", torch.ones(16, dtype=torch.int64))
        ...     out, td = frl.envs.step_and_reset(env, td)
    """
    out = env.step(td)
    return out, auto_reset(env, out)
