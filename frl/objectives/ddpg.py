"""Deep Deterministic Policy Gradient: the actor and critic losses of a deterministic policy.

Params layout, shared with `frl.objectives.td3`: ``params`` and ``target_params`` are TensorDicts
with two sub-TensorDicts, ``"actor"`` (the policy's parameters) and ``"qvalue"`` (the critic's), e.g.
``TensorDict(actor=pi.init(k1), qvalue=q.init(k2))``. Keep the target a separate copy, moved with
`frl.train.soft_update`.

References:
    Silver et al., "Deterministic Policy Gradient Algorithms" (2014);
    Lillicrap et al., "Continuous control with deep reinforcement learning" (2016), arXiv:1509.02971.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from frl.objectives._common import (
    Apply,
    bootstrapped_target,
    check_actor_critic_inputs,
    policy_action,
    state_action_value,
    weighted_mean,
)
from frl.objectives.keys import TRANSITION_LOSS_KEYS
from frl.objectives.value import value_loss

__all__ = ["ddpg_loss", "DDPG_BATCH_KEYS"]

#: What a DDPG / TD3 batch must hold: `frl.objectives.keys.TRANSITION_LOSS_KEYS` (the actor and critic
#: also read theirs, usually "observation" and ("next", "observation")).
DDPG_BATCH_KEYS = TRANSITION_LOSS_KEYS


def ddpg_loss(actor_apply: Apply, q_apply: Apply, params: TensorDictBase, target_params: TensorDictBase,
              batch: TensorDictBase, *, gamma: float, loss: str = "l2",
              weight: torch.Tensor | None = None) -> tuple[TensorDict, torch.Tensor]:
    """The DDPG actor and value losses of a batch of transitions, as TorchRL's ``DDPGLoss`` computes them.

    * actor: ``loss_actor = -mean Q(s, mu(s))``, with the critic's parameters detached, so its
      gradient reaches the actor only (the deterministic policy gradient);
    * critic: ``loss_value = mean l(Q(s, a), y)`` with the detached one-step target
      ``y = r + gamma * (1 - terminated) * Q_target(s', mu_target(s'))``. Truncated transitions
      bootstrap; terminated ones do not.

    The two losses touch disjoint parameters, so one ``torch.func.grad`` of their sum gives each
    network its own gradient; step them with separate optimizers (or one over both).

    Args:
        actor_apply: ``actor_apply(actor_params, td) -> td`` writing "action" [*B, D], e.g. the
            ``apply`` of `frl.nn.deterministic_actor`; called on ``batch`` and on ``batch["next"]``.
        q_apply: ``q_apply(qvalue_params, td) -> td`` writing "state_action_value" [*B, 1] from
            the td's observation and "action", e.g. the ``apply`` of `frl.nn.q_value_operator`.
        params: TensorDict with ``"actor"`` and ``"qvalue"`` (gradients flow here).
        target_params: the target networks, laid out as ``params``.
        batch: TensorDict [*B] with ``"observation"``, ``"action"`` [*B, D], ``("next", "observation")``,
            ``("next", "reward")`` [*B, 1] and ``("next", "terminated")`` [*B, 1] (bool).
        gamma: discount.
        loss: the critic's regression loss: "l2" (TorchRL's default for DDPG), "smooth_l1" or "l1".
        weight: importance weights [*B] from a prioritized buffer; each sample's losses are scaled by it.

    Returns:
        ``(terms, td_error)``: ``terms`` holds ``loss_actor`` and ``loss_value`` (the scalars to
        minimize) and the detached diagnostics ``pred_value`` (mean Q(s, a)), ``target_value``
        (mean y), ``pred_value_max``, ``target_value_max`` and ``td_error`` (mean |y - Q(s, a)|);
        ``td_error`` [*B] is the detached |y - Q(s, a)|, the samples' new priorities.

    Example:
        >>> pi = frl.nn.deterministic_actor(frl.nn.mlp(3, 1), action_low=-2.0, action_high=2.0)
        >>> q = frl.nn.q_value_operator(frl.nn.mlp(3 + 1, 1))
        >>> params = TensorDict(actor=pi.init(frl.random.key(0)), qvalue=q.init(frl.random.key(1)))
        >>> batch = TensorDict({"observation": torch.randn(8, 3), "action": torch.zeros(8, 1),
        ...     "next": {"observation": torch.randn(8, 3), "reward": torch.ones(8, 1),
        ...              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, batch_size=[8])
        >>> terms, td_error = ddpg_loss(pi.apply, q.apply, params, params.clone(), batch, gamma=0.99)
        >>> sorted(k for k in terms.keys() if k.startswith("loss")), td_error.shape
        (['loss_actor', 'loss_value'], torch.Size([8]))

    References:
        Lillicrap et al. (2016), arXiv:1509.02971, algorithm 1; TorchRL's
        ``torchrl/objectives/ddpg.py`` (``DDPGLoss.loss_actor`` through detached value params,
        ``DDPGLoss.loss_value``).
    """
    fn = "frl.objectives.ddpg_loss"
    shape = check_actor_critic_inputs(fn, params, target_params, batch, weight)

    # Actor: Q(s, mu(s)) through a detached critic, so this term never moves the critic.
    on_policy = policy_action(fn, actor_apply, params["actor"], batch, shape)
    q_actor = state_action_value(fn, q_apply, params["qvalue"].detach(), on_policy, shape)
    loss_actor = weighted_mean(-q_actor, weight)

    # Critic: regress Q(s, a) onto the target networks' one-step bootstrap.
    pred = state_action_value(fn, q_apply, params["qvalue"], batch, shape)
    nxt = policy_action(fn, actor_apply, target_params["actor"], batch.get("next"), shape)
    next_value = state_action_value(fn, q_apply, target_params["qvalue"], nxt, shape).detach()
    target = bootstrapped_target(batch, next_value, gamma)
    loss_value = weighted_mean(value_loss(pred, target, kind=loss), weight)

    td_error = (target - pred).detach().abs()
    pred_d = pred.detach()
    terms = TensorDict(loss_actor=loss_actor, loss_value=loss_value, pred_value=pred_d.mean(),
                       target_value=target.mean(), pred_value_max=pred_d.max(), target_value_max=target.max(),
                       td_error=td_error.mean())
    return terms, td_error
