"""Deep Q-learning: the (double) DQN loss, with importance weights for prioritized replay.

References:
    Mnih et al., "Human-level control through deep reinforcement learning" (2015);
    van Hasselt et al., "Deep Reinforcement Learning with Double Q-learning" (2016);
    Schaul et al., "Prioritized Experience Replay" (2016).
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from frl._checks import check_dtype, check_keys, check_shape
from frl.objectives._common import Apply, bootstrapped_target, weighted_mean
from frl.objectives.keys import TRANSITION_LOSS_KEYS
from frl.objectives.value import value_loss

__all__ = ["dqn_loss", "DQN_BATCH_KEYS"]

#: What a DQN batch must hold: `frl.objectives.keys.TRANSITION_LOSS_KEYS`.
DQN_BATCH_KEYS = TRANSITION_LOSS_KEYS


def dqn_loss(q_apply: Apply, params: TensorDictBase,
             target_params: TensorDictBase, batch: TensorDictBase, *, gamma: float, double_dqn: bool = True,
             loss: str = "smooth_l1", weight: torch.Tensor | None = None) -> tuple[TensorDict, torch.Tensor]:
    """The one-step Q-learning loss of a batch of transitions, as TorchRL's ``DQNLoss`` computes it.

    ``target = r_t + gamma * (1 - terminated_t) * Q_target(s_{t+1}, a*)`` with
    ``a* = argmax_a Q(s_{t+1}, a)`` (double DQN: the online network picks, the target network rates)
    or ``argmax_a Q_target(s_{t+1}, a)`` (plain DQN). Truncated transitions bootstrap; terminated ones
    do not. No gradient flows into the target.

    Args:
        q_apply: ``q_apply(params, td) -> td`` with ``"action_value"`` [*B, n] (e.g. the ``apply`` of
            `frl.nn.q_value_actor`); called on ``batch`` and on ``batch["next"]``.
        params: online network parameters (gradients flow here).
        target_params: target network parameters.
        batch: TensorDict [*B] with ``"observation"``, ``"action"`` (int64 [*B]),
            ``("next", "observation")``, ``("next", "reward")`` [*B, 1], ``("next", "terminated")`` [*B, 1].
        gamma: discount.
        double_dqn: use double Q-learning's action selection.
        loss: "smooth_l1" (TorchRL's default), "l2" or "l1".
        weight: importance weights [*B] from a prioritized buffer; each sample's loss is scaled by it.

    Returns:
        ``(terms, td_error)``: ``terms`` holds ``loss`` (the scalar to minimize) and the detached
        diagnostics ``q_value`` (mean Q of the taken actions) and ``td_error`` (mean |TD error|);
        ``td_error`` [*B] is the detached absolute TD error, the new priorities of the samples.
    """
    fn = "frl.objectives.dqn_loss"
    check_keys(fn, batch, DQN_BATCH_KEYS, what="batch")
    action = batch.get("action")
    check_dtype(fn, "action", action, (torch.int64, torch.int32))
    q = q_apply(params, batch).get("action_value")
    check_shape(fn, "action", action, tuple(q.shape[:-1]), note="the batch shape of action_value")
    q_taken = q.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)

    nxt = batch.get("next")
    q_next_target = q_apply(target_params, nxt).get("action_value").detach()
    chooser = q_apply(params, nxt).get("action_value").detach() if double_dqn else q_next_target
    v_next = q_next_target.gather(-1, chooser.argmax(-1, keepdim=True)).squeeze(-1)
    target = bootstrapped_target(batch, v_next, gamma)

    if weight is not None:
        check_shape(fn, "weight", weight, tuple(q_taken.shape))
    loss_value = weighted_mean(value_loss(q_taken, target, kind=loss), weight)
    td_error = (target - q_taken).detach().abs()
    terms = TensorDict(loss=loss_value, q_value=q_taken.detach().mean(), td_error=td_error.mean())
    return terms, td_error
