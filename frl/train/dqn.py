"""The DQN training step: one gradient update of a Q-network on a (prioritized) minibatch."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDictBase

from frl.objectives.dqn import dqn_loss
from frl.train._step import optimizer_step

__all__ = ["make_dqn_update"]


def make_dqn_update(q_apply: Callable, optimizer, *, gamma: float, double_dqn: bool = True,
                    loss: str = "smooth_l1",
                    grad_transform: Callable[[TensorDictBase], TensorDictBase] | None = None) -> Callable:
    """Build ``update(params, target_params, opt_state, batch, weight=None) -> (params, opt_state, metrics, td_error)``.

    Pure, compilable whole and vmappable over an ensemble, like `frl.train.make_ppo_update`;
    ``td_error`` [*B] is what a prioritized buffer takes as the samples' new priorities, and
    ``grad_transform`` is where a data-parallel gradient all-reduce goes.
    """

    def objective(params, target_params, batch, weight):
        terms, td_error = dqn_loss(q_apply, params, target_params, batch, gamma=gamma, double_dqn=double_dqn,
                                   loss=loss, weight=weight)
        return terms["loss"], (terms, td_error)

    def update(params, target_params, opt_state, batch, weight: torch.Tensor | None = None):
        grads, (terms, td_error) = torch.func.grad(objective, has_aux=True)(params, target_params, batch, weight)
        params, opt_state, grad_norm = optimizer_step(optimizer, grads, opt_state, params, grad_transform)
        metrics = terms.detach()
        metrics["grad_norm"] = grad_norm
        return params, opt_state, metrics, td_error

    return update
