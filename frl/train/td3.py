"""The TD3 training step: the critics every call, the actor only on the calls that say so."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDict, TensorDictBase

from frl.objectives.td3 import td3_loss
from frl.optim import global_norm
from frl.train._step import optimizer_step

__all__ = ["make_td3_update"]


def make_td3_update(actor_apply: Callable, q_apply: Callable, optimizer, *, gamma: float, policy_noise: float = 0.2,
                    noise_clip: float = 0.5, action_low=None, action_high=None, action_spec=None,
                    num_qvalue_nets: int = 2, loss: str = "l2",
                    grad_transform: Callable[[TensorDictBase], TensorDictBase] | None = None) -> Callable:
    """Build the TD3 step ``update(params, target_params, opt_state, batch, key, update_actor=True, weight=None)``.

    ``update`` returns ``(params, opt_state, metrics, td_error)``. One step of
    `frl.objectives.td3_loss` with TD3's delayed policy updates: the critics (``params["qvalue"]``)
    are stepped on every call, the actor (``params["actor"]``) only where ``update_actor`` is true.
    ``update_actor`` may be a bool tensor (e.g. ``step % 2 == 0``), so one compiled step serves both
    kinds of call without recompiling. The actor and the critics keep separate optimizer states,
    ``opt_state = {"actor": optimizer.init(params["actor"]), "qvalue": optimizer.init(params["qvalue"])}``,
    and the actor's is left untouched on the skipped calls, so Adam counts only the actor's real steps
    (TorchRL's TD3 steps two optimizers the same way). Both go through the shared optimizer step of
    the other factories. The targets are the caller's to move on the actor's steps
    (``frl.train.soft_update(target_params, params, tau)``).

    Pure, compilable whole (``fullgraph=True``) and vmappable over an ensemble of agents;
    ``td_error`` [*B] is what a prioritized buffer takes as new priorities, and ``grad_transform`` is
    where a data-parallel gradient all-reduce goes (`frl.train.all_reduce_gradients`).

    Args:
        actor_apply, q_apply, gamma, policy_noise, noise_clip, action_low, action_high, action_spec,
            num_qvalue_nets, loss: as in `frl.objectives.td3_loss`.
        optimizer: an `frl.optim` gradient transformation, used for the actor and the critics alike.
        grad_transform: applied to the gradients before the optimizer.

    Example:
        >>> update = frl.train.make_td3_update(pi.apply, q.apply, frl.optim.adam(3e-4), gamma=0.99,
        ...                                    action_spec=env.action_spec)
        >>> delayed = step % 2 == 0   # a tensor
        >>> params, opt_state, metrics, td_error = update(params, target, opt_state, batch, key, delayed)
        >>> target = frl.tree.where(delayed, frl.train.soft_update(target, params, 0.005), target)
    """

    def objective(params, target_params, batch, key, weight):
        terms, td_error = td3_loss(actor_apply, q_apply, params, target_params, batch, key, gamma=gamma,
                                   policy_noise=policy_noise, noise_clip=noise_clip, action_low=action_low,
                                   action_high=action_high, action_spec=action_spec,
                                   num_qvalue_nets=num_qvalue_nets, loss=loss, weight=weight)
        # The two losses reach disjoint params: one gradient of the sum gives each its own.
        return terms["loss_actor"] + terms["loss_qvalue"], (terms, td_error)

    def update(params, target_params, opt_state, batch, key, update_actor=True, weight: torch.Tensor | None = None):
        grads, (terms, td_error) = torch.func.grad(objective, has_aux=True)(params, target_params, batch, key,
                                                                            weight)
        # The gradients are transformed once, whole; each network then takes its own optimizer step.
        if grad_transform is not None:
            grads = grad_transform(grads)
        qvalue, q_state, _ = optimizer_step(optimizer, grads["qvalue"], opt_state["qvalue"], params["qvalue"])
        # The actor's step (and its optimizer state) only where update_actor: the delayed policy update.
        actor, a_state, _ = optimizer_step(optimizer, grads["actor"], opt_state["actor"], params["actor"],
                                           apply=update_actor)
        new_params = TensorDict(actor=actor, qvalue=qvalue)
        new_state = {"actor": a_state, "qvalue": q_state}
        metrics = terms.detach()
        metrics["grad_norm"] = global_norm(grads)  # of both networks' gradients, as the other steps report
        return new_params, new_state, metrics, td_error

    return update
