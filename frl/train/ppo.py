"""The PPO training step: one gradient update of an actor-critic on a minibatch, as a pure function."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDictBase

from frl.objectives.ppo import clip_ppo_loss
from frl.train._step import optimizer_step

__all__ = ["make_ppo_update"]


def make_ppo_update(actor_dist: Callable, critic: Callable, optimizer, *,
                    grad_transform: Callable[[TensorDictBase], TensorDictBase] | None = None,
                    **loss_kwargs) -> Callable:
    """Build ``update(params, opt_state, batch, key=None) -> (params, opt_state, metrics)``.

    The returned function is pure (new params and optimizer state, inputs untouched), so it can be
    compiled whole with ``torch.compile(fullgraph=True)`` and vmapped over an ensemble of agents
    (stacked ``params``, ``opt_state``, ``batch`` and ``key``).

    Args:
        actor_dist: ``actor_dist(actor_params, batch) -> distribution`` (see `frl.objectives.clip_ppo_loss`).
        critic: ``critic(critic_params, batch) -> TensorDict`` with ``"state_value"``.
        optimizer: an `frl.optim` gradient transformation (``init`` / ``update``).
        grad_transform: applied to the gradients before the optimizer. This is where data-parallel
            training averages gradients across processes: pass
            `frl.train.all_reduce_gradients` under ``torchrun``; the step is otherwise unchanged.
        **loss_kwargs: forwarded to `frl.objectives.clip_ppo_loss` (``clip_epsilon``,
            ``entropy_coef``, ``critic_coef``, ``critic_loss``, ``value_clip``, ``normalize_advantage``).

    Returns:
        ``update``; its ``metrics`` TensorDict holds the loss terms, ``loss`` (their sum), the
        diagnostics of `clip_ppo_loss` and ``grad_norm`` (before any clipping), all detached.
    """
    def total_loss(params, batch, key):
        terms = clip_ppo_loss(actor_dist, critic, params, batch, key, **loss_kwargs)
        return terms["loss_objective"] + terms["loss_critic"] + terms["loss_entropy"], terms

    def update(params: TensorDictBase, opt_state, batch: TensorDictBase, key: torch.Tensor | None = None):
        grads, terms = torch.func.grad(total_loss, has_aux=True)(params, batch, key)
        params, opt_state, grad_norm = optimizer_step(optimizer, grads, opt_state, params, grad_transform)
        metrics = terms.detach()
        metrics["loss"] = terms["loss_objective"] + terms["loss_critic"] + terms["loss_entropy"]
        metrics["grad_norm"] = grad_norm
        return params, opt_state, metrics

    return update
