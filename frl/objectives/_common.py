"""The pieces the losses share: one home for each idea that several objectives use.

* `bootstrapped_target`: the one-step target ``r + gamma * (1 - terminated) * next_value`` (DQN,
  SAC, DDPG, TD3);
* `check_q_ensemble` and `q_ensemble`: the check on stacked critic params and their evaluation in
  one vmapped call (SAC, TD3);
* `ensemble_value_loss`: every member regressed onto one shared target, summed over the ensemble
  (SAC, TD3);
* `joint_log_prob`: a log-density (or entropy) summed over the action dimensions down to the batch
  shape (SAC, PPO);
* `weighted_mean`: the importance-weighted mean of per-sample losses (DQN, SAC, DDPG, TD3);
* `check_actor_critic_inputs`, `policy_action` and `state_action_value`: the deterministic-policy
  losses' checks and evaluations (DDPG, TD3).

The module is private (its names are not re-exported by `frl.objectives`); the losses import these
names from here, never another loss module's private helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from tensordict import TensorDictBase

from frl._checks import check_keys, check_shape, fail, fmt_shape
from frl.objectives.keys import TRANSITION_LOSS_KEYS
from frl.objectives.value import value_loss
from frl.tree import tree_leaves

__all__ = ["Apply", "ReparameterizedDist", "LogitsDist", "bootstrapped_target", "check_q_ensemble", "q_ensemble",
           "ensemble_value_loss", "joint_log_prob", "weighted_mean", "check_actor_critic_inputs", "policy_action",
           "state_action_value"]

#: ``apply(params, td) -> td``: a functional module's forward pass over a TensorDict.
Apply = Callable[[TensorDictBase, TensorDictBase], TensorDictBase]


class ReparameterizedDist(Protocol):
    """What SAC's continuous actor returns: a draw and its log-density in one reparameterized pass."""

    def sample_and_log_prob(self, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class LogitsDist(Protocol):
    """What discrete SAC's actor returns: a categorical over the actions, given by its logits [*B, n]."""

    @property
    def logits(self) -> torch.Tensor: ...



def bootstrapped_target(batch: TensorDictBase, next_value: torch.Tensor, gamma: float) -> torch.Tensor:
    """The detached one-step target ``r + gamma * (1 - terminated) * next_value`` [*B].

    Only termination stops the bootstrap: a truncated transition (time limit) still bootstraps from
    its next state's value.

    Args:
        batch: TensorDict [*B] with ``("next", "reward")`` [*B, 1] and ``("next", "terminated")``
            [*B, 1] (bool); the callers check both.
        next_value: the value of the next state [*B] (no gradient flows back into it).
        gamma: discount.

    Returns:
        The target [*B], detached.

    Example:
        >>> batch = TensorDict({"next": {"reward": torch.ones(2, 1),
        ...                              "terminated": torch.tensor([[False], [True]])}}, batch_size=[2])
        >>> bootstrapped_target(batch, torch.full((2,), 10.0), 0.5)
        tensor([6., 1.])

    References:
        Mnih et al., "Human-level control through deep reinforcement learning" (2015); Pardo et al.,
        "Time Limits in Reinforcement Learning" (2018), arXiv:1712.00378 (bootstrapping at truncation).
    """
    reward = batch.get(("next", "reward")).squeeze(-1)
    bootstrap = (~batch.get(("next", "terminated")).squeeze(-1)).to(next_value.dtype)
    return (reward + gamma * bootstrap * next_value).detach()


def weighted_mean(per_sample: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``mean(w_i * l_i)`` over the samples, or ``mean(l_i)`` without weights.

    frl's convention for prioritized replay: a prioritized buffer's weights are already normalized by
    their maximum, so the weighted losses are averaged over the batch size (TorchRL divides by
    ``sum(w)`` instead). Callers check the weight's shape.
    """
    if weight is not None:
        per_sample = per_sample * weight.to(per_sample.dtype)
    return per_sample.mean()


def check_q_ensemble(fn: str, name: str, qparams: TensorDictBase, num_qvalue_nets: int) -> None:
    """Check that every leaf of the stacked critic params ``qparams`` leads with ``num_qvalue_nets``.

    Shapes only: free under compile and vmap.
    """
    for leaf in tree_leaves(qparams):
        if leaf.dim() == 0 or leaf.shape[0] != num_qvalue_nets:
            fail(fn, f"{name} has a leaf of shape {fmt_shape(leaf.shape)}, expected a leading dimension of "
                     f"num_qvalue_nets={num_qvalue_nets} (its batch_size is {fmt_shape(qparams.batch_size)}; "
                     "stack the members' params: torch.vmap(q.init)(keys) or frl.tree.stack)")


def q_ensemble(q_apply: Apply, qparams: TensorDictBase, td: TensorDictBase,
               out_key: str = "state_action_value") -> torch.Tensor:
    """Every ensemble member's ``out_key`` on ``td``, in one vmapped call: [num_qvalue_nets, *B, ...].

    Args:
        q_apply: ``q_apply(member_params, td) -> td`` for one member's (unstacked) params.
        qparams: the members' params stacked along a leading dimension (see `check_q_ensemble`).
        td: the input TensorDict [*B], shared by all members.
        out_key: the key of ``q_apply``'s output to return.
    """
    return torch.vmap(lambda p: q_apply(p, td).get(out_key))(qparams)


def ensemble_value_loss(q: torch.Tensor, target: torch.Tensor, kind: str,
                        weight: torch.Tensor | None) -> torch.Tensor:
    """Every member's regression onto the same target: ``mean_b w_b * sum_i l(q[i, b], target[b])``.

    Args:
        q: the ensemble's predictions [num_qvalue_nets, *B].
        target: the shared target [*B] (detached by `frl.objectives.value_loss`).
        kind: the regression loss, as `frl.objectives.value_loss`'s ``kind``.
        weight: importance weights [*B] or None (see `weighted_mean`).

    Returns:
        The scalar loss. TorchRL's SAC and TD3 losses sum the members' losses the same way.
    """
    return weighted_mean(value_loss(q, target.expand_as(q), kind=kind).sum(0), weight)


def joint_log_prob(log_prob: torch.Tensor, batch_ndim: int) -> torch.Tensor:
    """Sum elementwise log-densities over the action dimensions, down to the batch shape's rank.

    A diagonal (tanh-)Gaussian's action dimensions are independent: the joint log-prob of the action
    vector is the sum of the per-dimension ones, as TorchRL computes it (and so is the joint entropy).
    A log-prob already at the batch rank (e.g. `frl.nn.TanhNormal`'s, or a categorical's) is returned
    as is.

    Args:
        log_prob: [*B, *A] elementwise or [*B] joint log-densities.
        batch_ndim: the rank of the batch shape [*B].

    Returns:
        The joint log-density [*B].
    """
    # Summed one trailing dimension at a time, as the losses always did: the same rounding.
    while log_prob.dim() > batch_ndim:
        log_prob = log_prob.sum(-1)
    return log_prob


def check_actor_critic_inputs(fn: str, params: TensorDictBase, target_params: TensorDictBase,
                              batch: TensorDictBase, weight: torch.Tensor | None) -> tuple[int, ...]:
    """The checks every deterministic-policy loss (DDPG, TD3) starts with; returns the batch shape [*B]."""
    check_keys(fn, batch, TRANSITION_LOSS_KEYS, what="batch")
    check_keys(fn, params, ("actor", "qvalue"), what="params")
    check_keys(fn, target_params, ("actor", "qvalue"), what="target_params")
    shape = tuple(batch.batch_size)
    check_shape(fn, "('next', 'reward')", batch.get(("next", "reward")), (*shape, 1), note="[*B, 1]")
    check_shape(fn, "('next', 'terminated')", batch.get(("next", "terminated")), (*shape, 1), note="[*B, 1]")
    if weight is not None:
        check_shape(fn, "weight", weight, shape, note="the batch shape")
    return shape


def state_action_value(fn: str, q_apply: Apply, qparams: TensorDictBase, td: TensorDictBase,
                       shape: tuple[int, ...]) -> torch.Tensor:
    """Q(s, a) [*B] from ``q_apply``'s "state_action_value" [*B, 1], checked."""
    q = q_apply(qparams, td).get("state_action_value")
    check_shape(fn, "state_action_value", q, (*shape, 1), note="q_apply's output, [*B, 1]")
    return q.squeeze(-1)


def policy_action(fn: str, actor_apply: Apply, actor_params: TensorDictBase, td: TensorDictBase,
                  shape: tuple[int, ...]) -> TensorDictBase:
    """``actor_apply``'s output (a copy of ``td`` with the policy's "action" [*B, D]), checked."""
    out = actor_apply(actor_params, td)
    action = out.get("action")
    check_shape(fn, "the policy's action", action, (*shape, None), note="actor_apply's output, [*B, D]")
    return out
