"""Soft Actor-Critic: the continuous loss (Haarnoja et al.) and the discrete one (Christodoulou).

Both are TorchRL's SAC losses recast as pure functions: ``sac_loss`` is ``SACLoss`` in its second
version (no separate state-value network, target Q-networks, the current policy picks the next
action), ``discrete_sac_loss`` is ``DiscreteSACLoss``. They return the same loss terms and
diagnostics under the same names (``loss_actor``, ``loss_qvalue``, ``loss_alpha``, ``alpha``,
``entropy``), plus the per-sample TD errors a prioritized buffer takes as new priorities.

Parameters live in one TensorDict ``params`` with:

* ``"actor"``: the policy's parameters;
* ``"qvalue"``: the Q-ensemble's parameters, the ``num_qvalue_nets`` members stacked along a new leading
  dimension (``frl.tree.stack([q.init(k) for k in frl.random.split(key, 2)])``); the ensemble is
  evaluated in one ``torch.func.vmap``ped call, not a Python loop;
* ``"log_alpha"`` (optional): a scalar, the log of a learned temperature. Without it the temperature is
  fixed and given as ``alpha=...``.

The target Q-parameters ``target_q_params`` have the layout of ``params["qvalue"]`` (keep them with
`frl.train.soft_update`). The gradients of the three loss terms reach disjoint parameters (the actor
loss only the actor, the Q loss only the Q-ensemble, the temperature loss only ``log_alpha``), so their
sum can be differentiated once with respect to all of ``params``.

References:
    Haarnoja et al., "Soft Actor-Critic: Off-Policy Maximum Entropy Deep Reinforcement Learning with a
    Stochastic Actor" (2018), arXiv:1801.01290;
    Haarnoja et al., "Soft Actor-Critic Algorithms and Applications" (2018), arXiv:1812.05905;
    Christodoulou, "Soft Actor-Critic for Discrete Action Settings" (2019), arXiv:1910.07207;
    TorchRL's ``torchrl/objectives/sac.py`` (``SACLoss``, ``DiscreteSACLoss``), whose formulas these follow.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import check_dtype, check_keys, check_shape, fail, fmt_shape
from frl.objectives._common import (
    Apply,
    LogitsDist,
    ReparameterizedDist,
    bootstrapped_target,
    check_q_ensemble,
    ensemble_value_loss,
    joint_log_prob,
    q_ensemble,
)
from frl.objectives.keys import TRANSITION_LOSS_KEYS

__all__ = ["sac_loss", "discrete_sac_loss", "SAC_BATCH_KEYS"]

#: What a SAC batch must hold: `frl.objectives.keys.TRANSITION_LOSS_KEYS` (the actor and the
#: Q-networks read more, e.g. "observation" and ("next", "observation")). The discrete loss reads the same.
SAC_BATCH_KEYS = TRANSITION_LOSS_KEYS


def _temperature(fn: str, params: TensorDictBase, alpha: float | torch.Tensor | None,
                 like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(alpha, log_alpha)``: the detached temperature, and the learned log-temperature or None."""
    learned = "log_alpha" in params.keys()
    if learned and alpha is not None:
        fail(fn, "params has 'log_alpha' and alpha is given: pass one (log_alpha to learn the "
                 "temperature, alpha to fix it)")
    if learned:
        log_alpha: torch.Tensor = params.get("log_alpha")
        check_shape(fn, "params['log_alpha']", log_alpha, ())
        return log_alpha.detach().exp(), log_alpha
    if alpha is None:
        fail(fn, "no temperature: put a scalar 'log_alpha' in params to learn it, or pass alpha=... to fix it")
    if isinstance(alpha, torch.Tensor):
        check_shape(fn, "alpha", alpha, ())
        return alpha.detach().to(like.dtype), None
    return torch.full((), float(alpha), dtype=like.dtype, device=like.device), None


def _checked_reward(fn: str, batch: TensorDictBase) -> torch.Tensor:
    """``r_t`` [*B], after checking it and ``terminated_t`` (bool, the reward's shape)."""
    reward = batch.get(("next", "reward"))
    terminated = batch.get(("next", "terminated"))
    if reward.dim() == 0 or reward.shape[-1] != 1:
        fail(fn, f"('next', 'reward') has shape {fmt_shape(reward.shape)}, expected [*B, 1] (TorchRL's "
                 "trailing singleton dimension)")
    check_shape(fn, "('next', 'terminated')", terminated, tuple(reward.shape), note="the shape of the reward")
    check_dtype(fn, "('next', 'terminated')", terminated, (torch.bool,))
    return reward.squeeze(-1)


def _checked_inputs(fn: str, params: TensorDictBase, target_q_params: TensorDictBase, batch: TensorDictBase,
                    alpha: float | torch.Tensor | None,
                    num_qvalue_nets: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The checks both losses make first; ``(reward [*B], alpha, log_alpha)``."""
    check_keys(fn, batch, SAC_BATCH_KEYS, what="batch")
    check_keys(fn, params, ("actor", "qvalue"), what="params")
    check_q_ensemble(fn, "params['qvalue']", params.get("qvalue"), num_qvalue_nets)
    check_q_ensemble(fn, "target_q_params", target_q_params, num_qvalue_nets)
    reward = _checked_reward(fn, batch)
    return reward, *_temperature(fn, params, alpha, reward)


def _checked_joint_log_prob(fn: str, what: str, log_prob: torch.Tensor, batch_shape: tuple) -> torch.Tensor:
    # Elementwise log-densities (frl.nn.Normal) are summed over the action dimensions, as TorchRL does.
    log_prob = joint_log_prob(log_prob, len(batch_shape))
    check_shape(fn, what, log_prob, batch_shape, note="the batch shape of the reward")
    return log_prob


def _q_loss_terms(fn: str, q_taken: torch.Tensor, target: torch.Tensor, loss: str,
                  weight: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The Q loss (summed over the ensemble as TorchRL does, averaged over samples) and |TD| [*B]."""
    if weight is not None:
        check_shape(fn, "weight", weight, tuple(target.shape), note="the batch shape of the reward")
    td_error = (q_taken.detach() - target).abs().mean(0)
    return ensemble_value_loss(q_taken, target, loss, weight), td_error


def _target_entropy(fn: str, target_entropy, auto: float) -> float:
    if isinstance(target_entropy, str):
        if target_entropy != "auto":
            fail(fn, f"target_entropy={target_entropy!r}, expected 'auto' or a number")
        return auto
    if not isinstance(target_entropy, (int, float)):
        fail(fn, f"target_entropy has type {type(target_entropy).__name__}, expected 'auto' or a Python "
                 "number (a constant of the compiled graph)", TypeError)
    return float(target_entropy)


def _alpha_loss(log_alpha: torch.Tensor | None, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    if log_alpha is None:  # a fixed temperature: nothing to learn
        return torch.zeros((), dtype=log_prob.dtype, device=log_prob.device)
    # d/d log_alpha of E[-log_alpha (log pi + H_target)]: raises alpha when the entropy -log pi is
    # below the target, lowers it above. The log-prob is a constant here.
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


def sac_loss(actor_dist: Callable[[TensorDictBase, TensorDictBase], ReparameterizedDist], q_apply: Apply,
             params: TensorDictBase,
             target_q_params: TensorDictBase, batch: TensorDictBase, key: torch.Tensor, *, gamma: float,
             alpha: float | torch.Tensor | None = None, target_entropy: float | str = "auto",
             num_qvalue_nets: int = 2, loss: str = "l2",
             weight: torch.Tensor | None = None) -> tuple[TensorDict, torch.Tensor]:
    """The Soft Actor-Critic loss of a batch of transitions, as TorchRL's ``SACLoss`` (version 2) computes it.

    With ``alpha`` the temperature, ``Q_1..Q_N`` the ensemble, ``Q'_i`` its target copy and
    ``a~ ~ pi(.|s)``, ``a' ~ pi(.|s')`` reparameterized draws of the current policy:

    * ``loss_qvalue = mean_b sum_i w_b * l(Q_i(s, a), y)`` with the soft TD target
      ``y = r + gamma * (1 - terminated) * (min_i Q'_i(s', a') - alpha * log pi(a'|s'))``
      (no gradient; truncated transitions bootstrap, terminated ones do not);
    * ``loss_actor = mean_b [alpha * log pi(a~|s) - min_i Q_i(s, a~)]``; the gradient flows through
      the reparameterized action into the actor only (the Q-parameters are detached here);
    * ``loss_alpha = mean_b [-log_alpha * (log pi(a~|s) + target_entropy)]`` with the log-prob
      detached, so it moves only ``log_alpha``; 0 when the temperature is fixed.

    The temperature enters the actor loss and the target as a constant (``exp(log_alpha)`` detached).

    Args:
        actor_dist: ``actor_dist(actor_params, td) -> distribution`` with
            ``sample_and_log_prob(key) -> (action [*B, *A], log_prob [*B])``, a reparameterized draw
            (e.g. ``get_dist`` of an `frl.nn.probabilistic_actor` with "tanh_normal", whose
            `frl.nn.TanhNormal` scores the pre-tanh draw exactly). Called on ``batch`` and on
            ``batch["next"]``.
        q_apply: ``q_apply(q_params, td) -> td`` with ``"state_action_value"`` [*B, 1] for one
            member's parameters (e.g. the ``apply`` of `frl.nn.q_value_operator`); it reads
            ``td["action"]``, which is the stored action, or the policy's draw in a shallow copy.
        params: TensorDict with ``"actor"``, ``"qvalue"`` (the ensemble, each leaf [num_qvalue_nets,
            ...]) and optionally ``"log_alpha"`` (a scalar: the learned temperature's log).
        target_q_params: the target ensemble, laid out as ``params["qvalue"]``.
        batch: TensorDict [*B] with ``"action"`` [*B, *A], ``("next", "reward")`` [*B, 1],
            ``("next", "terminated")`` [*B, 1] bool, and what the actor and the Q-networks read
            (usually ``"observation"`` and ``("next", "observation")``).
        key: an `frl.random` key; ``frl.random.split(key)`` gives the key of the draw at ``s`` (first)
            and of the draw at ``s'`` (second).
        gamma: discount.
        alpha: a fixed temperature (float or scalar tensor); give it exactly when ``params`` has no
            ``"log_alpha"``.
        target_entropy: the entropy the temperature steers towards; "auto" is
            ``-prod(action shape)`` (TorchRL's default, ``-D`` for a [*B, D] action).
        num_qvalue_nets: the ensemble size (checked against the leading dimension of the Q-parameters).
        loss: "l2" (squared error, the paper's), "smooth_l1" (TorchRL's class default) or "l1".
        weight: importance weights [*B] from a prioritized buffer; they scale each sample's Q loss
            (TorchRL also weighs the actor and temperature losses; here only the TD regression is
            corrected, as in PER).

    Returns:
        ``(terms, td_error)``: ``terms`` holds the scalars ``loss_actor``, ``loss_qvalue``,
        ``loss_alpha`` (sum them for the total loss) and the detached diagnostics ``alpha``,
        ``entropy`` (mean ``-log pi(a~|s)``), ``q_value`` (mean Q of the stored actions over the
        ensemble) and ``td_error`` (its mean); ``td_error`` [*B] is the detached |TD error| averaged
        over the ensemble (TorchRL takes the ensemble's maximum), the samples' new priorities.

    Example:
        >>> actor = frl.nn.probabilistic_actor(frl.nn.mlp(3, 2), action_low=-2.0, action_high=2.0)
        >>> q = frl.nn.q_value_operator(frl.nn.mlp(3 + 1, 1))
        >>> k_actor, k_q = frl.random.split(frl.random.key(0))
        >>> qvalue = frl.tree.stack([q.init(k) for k in frl.random.split(k_q, 2)])
        >>> params = TensorDict(actor=actor.init(k_actor), qvalue=qvalue, log_alpha=torch.zeros(()))
        >>> batch = TensorDict({"observation": torch.randn(8, 3), "action": torch.rand(8, 1) * 4 - 2,
        ...                     "next": {"observation": torch.randn(8, 3), "reward": torch.randn(8, 1),
        ...                              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, batch_size=[8])
        >>> terms, td_error = sac_loss(actor.get_dist, q.apply, params, qvalue, batch, frl.random.key(1),
        ...                            gamma=0.99)
        >>> loss = terms["loss_actor"] + terms["loss_qvalue"] + terms["loss_alpha"]
        >>> td_error.shape
        torch.Size([8])

    References:
        Haarnoja et al. (2018), arXiv:1801.01290 and arXiv:1812.05905; TorchRL's ``SACLoss``.
    """
    fn = "frl.objectives.sac_loss"
    reward, alpha_t, log_alpha = _checked_inputs(fn, params, target_q_params, batch, alpha,
                                                            num_qvalue_nets)
    batch_shape = tuple(reward.shape)
    action = batch.get("action")
    k_pi, k_next = fr.split(key)
    q_shape = (num_qvalue_nets, *batch_shape, 1)

    # --- soft TD target: everything detached (the actor, the target ensemble, the temperature) --------
    nxt = batch.get("next")
    next_dist = actor_dist(params.get("actor").detach(), nxt)
    next_action, next_log_prob = next_dist.sample_and_log_prob(k_next)
    check_shape(fn, "action", action, tuple(next_action.shape), note="the shape of the actor's draw")
    next_log_prob = _checked_joint_log_prob(fn, "log pi(a'|s')", next_log_prob, batch_shape).detach()
    q_next = q_ensemble(q_apply, target_q_params.detach(), nxt.copy().set("action", next_action.detach()),
                         "state_action_value")
    check_shape(fn, "the target Q-values", q_next, q_shape, note="[num_qvalue_nets, *B, 1]")
    v_next = q_next.squeeze(-1).min(0).values - alpha_t * next_log_prob
    target = bootstrapped_target(batch, v_next, gamma)

    # --- Q loss: every member regresses on the same target --------------------------------------------
    q_taken = q_ensemble(q_apply, params.get("qvalue"), batch, "state_action_value")
    check_shape(fn, "the Q-values", q_taken, q_shape, note="[num_qvalue_nets, *B, 1]")
    q_taken = q_taken.squeeze(-1)
    loss_qvalue, td_error = _q_loss_terms(fn, q_taken, target, loss, weight)

    # --- actor loss: reparameterized draw, the ensemble detached --------------------------------------
    dist = actor_dist(params.get("actor"), batch)
    new_action, log_prob = dist.sample_and_log_prob(k_pi)
    log_prob = _checked_joint_log_prob(fn, "log pi(a|s)", log_prob, batch_shape)
    q_new = q_ensemble(q_apply, params.get("qvalue").detach(), batch.copy().set("action", new_action),
                        "state_action_value")
    loss_actor = (alpha_t * log_prob - q_new.squeeze(-1).min(0).values).mean()

    # --- temperature --------------------------------------------------------------------------------
    target_entropy = _target_entropy(fn, target_entropy, -float(math.prod(action.shape[len(batch_shape):])))
    loss_alpha = _alpha_loss(log_alpha, log_prob, target_entropy)

    terms = TensorDict(loss_actor=loss_actor, loss_qvalue=loss_qvalue, loss_alpha=loss_alpha, alpha=alpha_t,
                       entropy=-log_prob.detach().mean(), q_value=q_taken.detach().mean(),
                       td_error=td_error.mean())
    return terms, td_error


def _probs(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p, log p)`` [*B, n], with ``log p`` set to 0 where ``p`` is 0.

    Every use multiplies ``log p`` by ``p``: where a class has probability 0 (a masked logit of -inf,
    or an underflow) its term is 0, and a finite stand-in keeps both the forward (0 * -inf) and the
    gradient free of NaN. TorchRL replaces such ``p`` by 1e-8 inside the log, with the same products.
    """
    log_p = torch.log_softmax(logits, -1)
    p = log_p.exp()
    return p, torch.where(p > 0, log_p, torch.zeros_like(log_p))


def discrete_sac_loss(actor_dist: Callable[[TensorDictBase, TensorDictBase], LogitsDist], q_apply: Apply,
                      params: TensorDictBase,
                      target_q_params: TensorDictBase, batch: TensorDictBase, *, gamma: float,
                      alpha: float | torch.Tensor | None = None, target_entropy: float | str = "auto",
                      target_entropy_weight: float = 0.98, num_qvalue_nets: int = 2, loss: str = "l2",
                      weight: torch.Tensor | None = None) -> tuple[TensorDict, torch.Tensor]:
    """The discrete Soft Actor-Critic loss, as TorchRL's ``DiscreteSACLoss`` computes it.

    With ``n`` actions the policy's expectations are exact sums over them, so no sampling (and no key)
    is needed. With ``p = pi(.|s)``, ``p' = pi(.|s')`` and ``Q_i(s)``, ``Q'_i(s')`` the [n]-vectors of
    the ensemble and of its target copy:

    * ``loss_qvalue = mean_b sum_i w_b * l(Q_i(s)[a], y)`` with
      ``y = r + gamma * (1 - terminated) * sum_a p'(a) (min_i Q'_i(s')[a] - alpha * log p'(a))``
      (no gradient; truncated transitions bootstrap);
    * ``loss_actor = mean_b sum_a p(a) (alpha * log p(a) - min_i Q_i(s)[a])`` (the Q-values detached);
    * ``loss_alpha = mean_b [-log_alpha * (sum_a p(a) log p(a) + target_entropy)]`` with the policy
      detached; 0 when the temperature is fixed.

    Args:
        actor_dist: ``actor_dist(actor_params, td) -> distribution`` with ``logits`` [*B, n] (e.g.
            ``get_dist`` of an `frl.nn.probabilistic_actor` with "categorical" or "one_hot_categorical").
        q_apply: ``q_apply(q_params, td) -> td`` with ``"action_value"`` [*B, n] for one member (e.g. the
            ``apply`` of `frl.nn.q_value_actor`).
        params: TensorDict with ``"actor"``, ``"qvalue"`` (each leaf [num_qvalue_nets, ...]) and
            optionally ``"log_alpha"`` (scalar), as for `sac_loss`.
        target_q_params: the target ensemble, laid out as ``params["qvalue"]``.
        batch: TensorDict [*B] with ``"action"`` (int64 [*B], or one-hot [*B, n]),
            ``("next", "reward")`` [*B, 1], ``("next", "terminated")`` [*B, 1] bool, and what the actor
            and Q-networks read.
        gamma: discount.
        alpha: a fixed temperature; give it exactly when ``params`` has no ``"log_alpha"``.
        target_entropy: "auto" is ``target_entropy_weight * log(n)`` (TorchRL's default, a share of the
            uniform policy's entropy), or a number.
        target_entropy_weight: the share used by "auto" (TorchRL's 0.98).
        num_qvalue_nets: the ensemble size.
        loss: "l2", "smooth_l1" (TorchRL's class default) or "l1".
        weight: importance weights [*B]; they scale each sample's Q loss.

    Returns:
        ``(terms, td_error)`` as `sac_loss`: ``loss_actor``, ``loss_qvalue``, ``loss_alpha`` and the
        detached ``alpha``, ``entropy`` (mean policy entropy), ``q_value``, ``td_error``; and the
        detached per-sample |TD error| [*B] averaged over the ensemble.

    Example:
        >>> actor = frl.nn.probabilistic_actor(frl.nn.mlp(4, 2), distribution="categorical")
        >>> q = frl.nn.q_value_actor(frl.nn.mlp(4, 2))
        >>> k_actor, k_q = frl.random.split(frl.random.key(0))
        >>> qvalue = frl.tree.stack([q.init(k) for k in frl.random.split(k_q, 2)])
        >>> params = TensorDict(actor=actor.init(k_actor), qvalue=qvalue, log_alpha=torch.zeros(()))
        >>> batch = TensorDict({"observation": torch.randn(8, 4), "action": torch.randint(0, 2, (8,)),
        ...                     "next": {"observation": torch.randn(8, 4), "reward": torch.randn(8, 1),
        ...                              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, batch_size=[8])
        >>> terms, td_error = discrete_sac_loss(actor.get_dist, q.apply, params, qvalue, batch, gamma=0.99)
        >>> terms["entropy"].shape, td_error.shape
        (torch.Size([]), torch.Size([8]))

    References:
        Christodoulou (2019), arXiv:1910.07207; TorchRL's ``DiscreteSACLoss``.
    """
    fn = "frl.objectives.discrete_sac_loss"
    reward, alpha_t, log_alpha = _checked_inputs(fn, params, target_q_params, batch, alpha,
                                                            num_qvalue_nets)
    batch_shape = tuple(reward.shape)

    dist = actor_dist(params.get("actor"), batch)
    logits = dist.logits
    if tuple(logits.shape[:-1]) != batch_shape:
        fail(fn, f"the actor's logits have shape {fmt_shape(logits.shape)}, expected "
                 f"{fmt_shape(batch_shape + (None,))} (the batch shape of the reward, then the actions)")
    n = logits.shape[-1]
    q_shape = (num_qvalue_nets, *batch_shape, n)

    # --- soft state value of s' as an exact expectation over the next policy; all detached -----------
    nxt = batch.get("next")
    next_p, next_log_p = _probs(actor_dist(params.get("actor").detach(), nxt).logits.detach())
    q_next = q_ensemble(q_apply, target_q_params.detach(), nxt, "action_value")
    check_shape(fn, "the target Q-values", q_next, q_shape, note="[num_qvalue_nets, *B, n]")
    v_next = (next_p * (q_next.min(0).values - alpha_t * next_log_p)).sum(-1)
    target = bootstrapped_target(batch, v_next, gamma)

    # --- Q loss on the stored actions ---------------------------------------------------------------
    q_all = q_ensemble(q_apply, params.get("qvalue"), batch, "action_value")
    check_shape(fn, "the Q-values", q_all, q_shape, note="[num_qvalue_nets, *B, n]")
    action = batch.get("action")
    if action.is_floating_point():  # one-hot
        check_shape(fn, "action", action, batch_shape + (n,), note="one-hot: the shape of the logits")
        q_taken = (q_all * action.to(q_all.dtype)).sum(-1)
    else:
        check_shape(fn, "action", action, batch_shape, note="integer actions: the batch shape of the reward")
        index = action.long().unsqueeze(-1).unsqueeze(0).expand(num_qvalue_nets, *batch_shape, 1)
        q_taken = q_all.gather(-1, index).squeeze(-1)
    loss_qvalue, td_error = _q_loss_terms(fn, q_taken, target, loss, weight)

    # --- actor loss: expectation over the policy, Q-values as constants ------------------------------
    p, log_p = _probs(logits)
    loss_actor = (p * (alpha_t * log_p - q_all.detach().min(0).values)).sum(-1).mean()

    # --- temperature --------------------------------------------------------------------------------
    neg_entropy = (p * log_p).sum(-1)
    target_entropy = _target_entropy(fn, target_entropy, target_entropy_weight * math.log(n))
    loss_alpha = _alpha_loss(log_alpha, neg_entropy, target_entropy)

    terms = TensorDict(loss_actor=loss_actor, loss_qvalue=loss_qvalue, loss_alpha=loss_alpha, alpha=alpha_t,
                       entropy=-neg_entropy.detach().mean(), q_value=q_taken.detach().mean(),
                       td_error=td_error.mean())
    return terms, td_error
