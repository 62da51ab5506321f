"""How a collector calls its policy: one calling convention for every kind of policy."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from tensordict import TensorDictBase

from frl._checks import fail
from frl.envs.rollout import random_action

__all__ = ["as_policy_fn"]


def _takes_key(fn: Callable) -> bool:
    """Whether ``fn(params, td, key)`` is a valid call (a third positional or a ``key`` parameter)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables: assume the full convention
        return True
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params) or "key" in sig.parameters:
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3


def as_policy_fn(fn_name: str, env, policy) -> Callable[[object, TensorDictBase, torch.Tensor], TensorDictBase]:
    """``policy -> (params, td, key) -> td``, the one convention the collectors call.

    Accepted policies:

    * ``None``: uniform random actions from ``env.action_spec``, drawn from each env's ``"key"``
      (`frl.envs.random_action`); ``params`` and the step key are ignored;
    * an object with an ``apply`` attribute (`frl.nn.probabilistic_actor`, `frl.nn.deterministic_actor`,
      any `frl.nn.Module` over TensorDicts): its ``apply`` is used;
    * a callable ``(params, td, key) -> td`` or ``(params, td) -> td`` (deterministic policies).
    """
    if policy is None:
        def random_policy(params, td, key):
            return random_action(env, td)
        return random_policy
    fn: Callable[..., TensorDictBase] = getattr(policy, "apply", policy)
    if not callable(fn):
        fail(fn_name, f"policy must be None, a callable (params, td[, key]) -> td or have an apply method; "
                      f"got {type(policy).__name__}", TypeError)
    if _takes_key(fn):
        return fn

    def keyless(params, td, key):
        return fn(params, td)
    return keyless
