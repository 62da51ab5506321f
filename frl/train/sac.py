"""The SAC training step: one gradient update of the actor, the Q ensemble and the temperature."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDictBase

from frl.objectives.sac import sac_loss
from frl.train._step import optimizer_step

__all__ = ["make_sac_update"]


def make_sac_update(actor_dist: Callable, q_apply: Callable, optimizer, *, gamma: float,
                    alpha: float | None = None, target_entropy: float | str = "auto", num_qvalue_nets: int = 2,
                    loss: str = "l2",
                    grad_transform: Callable[[TensorDictBase], TensorDictBase] | None = None) -> Callable:
    """Build the SAC step ``update(params, target_q_params, opt_state, batch, key, weight=None)``.

    ``update`` returns ``(params, opt_state, metrics, td_error)``. One step of
    `frl.objectives.sac_loss`: the actor, Q and temperature losses reach disjoint parts of ``params``
    (``"actor"``, ``"qvalue"``, ``"log_alpha"``), so one gradient of their sum and one optimizer step
    (``opt_state = optimizer.init(params)``) train all three, as TorchRL's SAC does with its three
    optimizers. The target ensemble is the caller's to move
    (``frl.train.soft_update(target_q_params, params["qvalue"], tau)``), as with `make_dqn_update`.

    Pure, compilable whole (``fullgraph=True``) and vmappable over an ensemble of agents;
    ``td_error`` [*B] is what a prioritized buffer takes as new priorities, and ``grad_transform`` is
    where a data-parallel gradient all-reduce goes (`frl.train.all_reduce_gradients`).

    Args:
        actor_dist, q_apply, gamma, alpha, target_entropy, num_qvalue_nets, loss: as in
            `frl.objectives.sac_loss`.
        optimizer: an `frl.optim` gradient transformation for all of ``params``.
        grad_transform: applied to the gradients before the optimizer.

    Example:
        >>> update = frl.train.make_sac_update(actor.get_dist, qnet.apply, frl.optim.adam(3e-4), gamma=0.99)
        >>> params, opt_state, metrics, td_error = update(params, target, opt_state, batch, key)
        >>> target = frl.train.soft_update(target, params["qvalue"], 0.005)
    """

    def objective(params, target_q_params, batch, key, weight):
        terms, td_error = sac_loss(actor_dist, q_apply, params, target_q_params, batch, key, gamma=gamma,
                                   alpha=alpha, target_entropy=target_entropy, num_qvalue_nets=num_qvalue_nets,
                                   loss=loss, weight=weight)
        return terms["loss_actor"] + terms["loss_qvalue"] + terms["loss_alpha"], (terms, td_error)

    def update(params, target_q_params, opt_state, batch, key, weight: torch.Tensor | None = None):
        grads, (terms, td_error) = torch.func.grad(objective, has_aux=True)(params, target_q_params, batch, key,
                                                                            weight)
        params, opt_state, grad_norm = optimizer_step(optimizer, grads, opt_state, params, grad_transform)
        metrics = terms.detach()
        metrics["grad_norm"] = grad_norm
        return params, opt_state, metrics, td_error

    return update
