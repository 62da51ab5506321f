"""Twin Delayed DDPG (TD3) and its offline variant TD3+BC.

TD3 changes DDPG's critic in two ways and leaves the third change to the caller:

* clipped double Q-learning: an ensemble of ``num_qvalue_nets`` critics (2 in the paper), all
  regressed onto one target built from the *smallest* target critic;
* target policy smoothing: the target action is ``mu_target(s')`` plus clipped Gaussian noise,
  clamped to the action bounds;
* delayed policy updates: the actor (and the targets) are stepped every ``d`` critic steps. The
  losses here return the actor and critic terms separately; the training step decides when to
  apply the actor's gradient.

Params layout: as `frl.objectives.ddpg`, TensorDicts with ``"actor"`` and ``"qvalue"``, where
``"qvalue"`` holds the critics' parameters stacked along a leading dimension of size
``num_qvalue_nets`` (its ``batch_size`` starts with it): ``torch.vmap(q.init)(keys)`` or
``frl.tree.stack([...])``. The ensemble is evaluated in one ``torch.func.vmap`` call.

References:
    Fujimoto, van Hoof and Meger, "Addressing Function Approximation Error in Actor-Critic Methods"
    (2018), arXiv:1802.09477;
    Fujimoto and Gu, "A Minimalist Approach to Offline Reinforcement Learning" (2021), arXiv:2106.06860.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import check_key, check_shape, fail
from frl.objectives._common import (
    Apply,
    bootstrapped_target,
    check_actor_critic_inputs,
    check_q_ensemble,
    ensemble_value_loss,
    policy_action,
    q_ensemble,
    state_action_value,
    weighted_mean,
)

__all__ = ["td3_loss", "td3_bc_loss"]


def _action_bounds(fn: str, action_low, action_high, action_spec):
    """The clamp bounds of the smoothed target action: floats, or tensors [D]."""
    if action_spec is not None:
        if action_low is not None or action_high is not None:
            fail(fn, "give action_spec or action_low / action_high, not both")
        if not hasattr(action_spec, "low") or not hasattr(action_spec, "high"):
            fail(fn, f"action_spec must be bounded (have low and high), got {type(action_spec).__name__}",
                 TypeError)
        return action_spec.low, action_spec.high
    if action_low is None or action_high is None:
        fail(fn, "the target action is clamped to the action bounds: give action_low and action_high "
                 "(floats or tensors [D]) or a bounded action_spec")
    # Numbers are checked here; tensor bounds are not (reading their values would sync under compile).
    if isinstance(action_low, (int, float)) and isinstance(action_high, (int, float)) and action_high < action_low:
        fail(fn, f"action_high must be at least action_low; got {action_low} and {action_high}")
    return action_low, action_high


def _critics_q(fn: str, q_apply: Apply, qparams: TensorDictBase, td: TensorDictBase,
               shape: tuple[int, ...], num_qvalue_nets: int) -> torch.Tensor:
    """Q_i(s, a) of every critic [N, *B], in one vmapped call over the stacked params."""
    q = q_ensemble(q_apply, qparams, td, "state_action_value")
    check_shape(fn, "state_action_value", q, (num_qvalue_nets, *shape, 1),
                note="q_apply's output for each critic, [num_qvalue_nets, *B, 1]")
    return q.squeeze(-1)


def _first_critic(qparams: TensorDictBase) -> TensorDictBase:
    """The first critic's params, detached (the stacked params may carry the ensemble in batch_size or not)."""
    q = qparams.detach()
    return q[0] if q.batch_dims else q.apply(lambda x: x[0])


def _smoothed_target_action(nxt: TensorDictBase, key: torch.Tensor, policy_noise: float, noise_clip: float,
                            low, high) -> TensorDictBase:
    """``clamp(mu_target(s') + clip(eps, -c, c), low, high)`` with ``eps ~ N(0, sigma^2)`` from ``key``."""
    action = nxt.get("action")
    noise = (policy_noise * fr.normal(key, tuple(action.shape), action.dtype)).clamp(-noise_clip, noise_clip)
    if isinstance(low, torch.Tensor) or isinstance(high, torch.Tensor):
        # clamp takes tensors on both sides or numbers on both sides; numbers stay compile-time constants.
        low, high = torch.as_tensor(low).to(action), torch.as_tensor(high).to(action)
    out = nxt.copy()
    out.set("action", (action + noise).clamp(low, high))
    return out


def _td3_critic(fn: str, actor_apply: Apply, q_apply: Apply, params, target_params, batch, key, shape, *,
                gamma, policy_noise, noise_clip, bounds, num_qvalue_nets, loss, weight):
    """TD3's critic loss (summed over the critics) with its diagnostics and per-sample |TD error|."""
    check_key(fn, key)
    check_q_ensemble(fn, "params['qvalue']", params["qvalue"], num_qvalue_nets)
    check_q_ensemble(fn, "target_params['qvalue']", target_params["qvalue"], num_qvalue_nets)

    # Target: the smallest target critic at the smoothed target action (no gradient).
    nxt = policy_action(fn, actor_apply, target_params["actor"], batch.get("next"), shape)
    nxt = _smoothed_target_action(nxt, key, policy_noise, noise_clip, *bounds)
    next_value = _critics_q(fn, q_apply, target_params["qvalue"], nxt, shape, num_qvalue_nets).detach().amin(0)
    target = bootstrapped_target(batch, next_value, gamma)

    # Every critic regresses onto the same target; TorchRL sums their losses, then averages samples.
    pred = _critics_q(fn, q_apply, params["qvalue"], batch, shape, num_qvalue_nets)
    loss_qvalue = ensemble_value_loss(pred, target, loss, weight)

    # Priority: the largest |TD error| over the critics (TorchRL: the largest squared error).
    td_error = (target - pred).detach().abs().amax(0)
    diagnostics = TensorDict(next_state_value=next_value.mean(), pred_value=pred.detach().mean(),
                             target_value=target.mean(), td_error=td_error.mean())
    return loss_qvalue, diagnostics, td_error


def _first_critic_at_policy(fn: str, actor_apply: Apply, q_apply: Apply, params, batch, shape):
    """``(mu(s) [*B, D], Q_0(s, mu(s)) [*B])`` through a detached first critic (TorchRL's TD3Loss uses Q_0)."""
    on_policy = policy_action(fn, actor_apply, params["actor"], batch, shape)
    return on_policy.get("action"), state_action_value(fn, q_apply, _first_critic(params["qvalue"]), on_policy, shape)


def td3_loss(actor_apply: Apply, q_apply: Apply, params: TensorDictBase, target_params: TensorDictBase,
             batch: TensorDictBase, key: torch.Tensor, *, gamma: float, policy_noise: float = 0.2,
             noise_clip: float = 0.5, action_low=None, action_high=None, action_spec=None,
             num_qvalue_nets: int = 2, loss: str = "l2",
             weight: torch.Tensor | None = None) -> tuple[TensorDict, torch.Tensor]:
    """The TD3 actor and critic losses of a batch of transitions, as TorchRL's ``TD3Loss`` computes them.

    * critics: ``loss_qvalue = mean_b sum_i l(Q_i(s, a), y)`` with the detached target
      ``y = r + gamma * (1 - terminated) * min_i Q_target_i(s', a~)`` and the smoothed target action
      ``a~ = clamp(mu_target(s') + clamp(eps, -noise_clip, noise_clip), low, high)``,
      ``eps = policy_noise * frl.random.normal(key, action.shape)`` (the batch's action shape, as
      TorchRL's ``randn_like(action)``). Truncated transitions bootstrap.
    * actor: ``loss_actor = -mean Q_0(s, mu(s))``: the first critic, with its parameters detached
      (as TorchRL's ``TD3Loss.actor_loss``, which takes ``state_action_value_actor[0]``).

    Delayed policy updates are the caller's business: the two losses touch disjoint parameters, so
    one ``torch.func.grad`` of their sum gives both gradients; step the critics every call and the
    actor (and the target networks) every ``policy_delay`` calls, as the paper does with d = 2.

    Args:
        actor_apply: ``actor_apply(actor_params, td) -> td`` writing "action" [*B, D], e.g. the
            ``apply`` of `frl.nn.deterministic_actor`.
        q_apply: ``q_apply(qvalue_params, td) -> td`` writing "state_action_value" [*B, 1] for one
            critic's (unstacked) params, e.g. the ``apply`` of `frl.nn.q_value_operator`.
        params: TensorDict with ``"actor"`` and ``"qvalue"``, the critics stacked along a leading
            dimension of size ``num_qvalue_nets`` (gradients flow here).
        target_params: the target networks, laid out as ``params``.
        batch: TensorDict [*B] with ``"observation"``, ``"action"`` [*B, D], ``("next", "observation")``,
            ``("next", "reward")`` [*B, 1] and ``("next", "terminated")`` [*B, 1] (bool).
        key: `frl.random` key of the target-smoothing noise: the same key gives the same loss.
        gamma: discount.
        policy_noise: standard deviation of the target-smoothing noise.
        noise_clip: the noise is clipped to [-noise_clip, noise_clip].
        action_low, action_high: bounds of the smoothed action (floats or tensors [D]).
        action_spec: a bounded action spec (``env.action_spec``) instead of the two bounds.
        num_qvalue_nets: the number of critics.
        loss: the critics' regression loss: "l2" (the paper's MSE), "smooth_l1" (TorchRL's
            ``TD3Loss`` default) or "l1".
        weight: importance weights [*B] from a prioritized buffer; each sample's losses are scaled by it.

    Returns:
        ``(terms, td_error)``: ``terms`` holds ``loss_actor`` and ``loss_qvalue`` (the scalars to
        minimize) and the detached means ``state_action_value_actor`` (Q_0(s, mu(s))),
        ``next_state_value`` (min_i Q_target_i(s', a~)), ``pred_value``, ``target_value`` and
        ``td_error``; ``td_error`` [*B] is the largest |y - Q_i(s, a)| over the critics, detached,
        the samples' new priorities.

    Example:
        >>> pi = frl.nn.deterministic_actor(frl.nn.mlp(3, 1), action_low=-2.0, action_high=2.0)
        >>> q = frl.nn.q_value_operator(frl.nn.mlp(3 + 1, 1))
        >>> params = TensorDict(actor=pi.init(frl.random.key(0)),
        ...                     qvalue=torch.vmap(q.init)(frl.random.split(frl.random.key(1), 2)))
        >>> batch = TensorDict({"observation": torch.randn(8, 3), "action": torch.zeros(8, 1),
        ...     "next": {"observation": torch.randn(8, 3), "reward": torch.ones(8, 1),
        ...              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, batch_size=[8])
        >>> terms, td_error = td3_loss(pi.apply, q.apply, params, params.clone(), batch, frl.random.key(2),
        ...                            gamma=0.99, action_low=-2.0, action_high=2.0)
        >>> terms["loss_qvalue"].shape, td_error.shape
        (torch.Size([]), torch.Size([8]))

    References:
        Fujimoto, van Hoof and Meger (2018), arXiv:1802.09477, algorithm 1;
        TorchRL's ``torchrl/objectives/td3.py``: ``TD3Loss.actor_loss`` evaluates every critic and
        keeps ``loss_actor = -(state_action_value_actor[0])``; ``TD3Loss.value_loss`` sums the
        critics' losses (``distance_loss(...).sum(0)``) and takes ``next_target_q1q2.min(0)``.
    """
    fn = "frl.objectives.td3_loss"
    shape = check_actor_critic_inputs(fn, params, target_params, batch, weight)
    bounds = _action_bounds(fn, action_low, action_high, action_spec)
    loss_qvalue, diagnostics, td_error = _td3_critic(
        fn, actor_apply, q_apply, params, target_params, batch, key, shape, gamma=gamma,
        policy_noise=policy_noise, noise_clip=noise_clip, bounds=bounds, num_qvalue_nets=num_qvalue_nets,
        loss=loss, weight=weight)
    _, q_actor = _first_critic_at_policy(fn, actor_apply, q_apply, params, batch, shape)
    terms = TensorDict(loss_actor=weighted_mean(-q_actor, weight), loss_qvalue=loss_qvalue,
                       state_action_value_actor=q_actor.detach().mean())
    terms.update(diagnostics)
    return terms, td_error


def td3_bc_loss(actor_apply: Apply, q_apply: Apply, params: TensorDictBase, target_params: TensorDictBase,
                batch: TensorDictBase, key: torch.Tensor, *, gamma: float, alpha: float = 2.5,
                policy_noise: float = 0.2, noise_clip: float = 0.5, action_low=None, action_high=None,
                action_spec=None, num_qvalue_nets: int = 2, loss: str = "l2",
                weight: torch.Tensor | None = None) -> tuple[TensorDict, torch.Tensor]:
    """TD3+BC for offline RL: TD3's critic loss and a behaviour-cloning-regularized actor loss.

    The critics are trained exactly as in `td3_loss`. The actor minimizes
    ``loss_actor = mean_b [ -lambda * Q_0(s, mu(s)) + mean_d (mu(s) - a)^2 ]`` with
    ``lambda = alpha / mean_b |Q_0(s, mu(s))|`` detached (a scale-free Q term), as the paper and
    TorchRL's ``TD3BCLoss`` define it: without weights this is ``-lambda * mean Q + mse(mu(s), a)``.
    With ``weight`` each sample's whole actor term is scaled (TorchRL weights only the Q part of it);
    ``lambda`` stays the unweighted batch mean.

    Args:
        actor_apply, q_apply, params, target_params, key, gamma, policy_noise, noise_clip,
            action_low, action_high, action_spec, num_qvalue_nets, loss, weight: as in `td3_loss`.
        batch: as in `td3_loss`; ``"action"`` [*B, D] is the dataset's action, the BC target.
        alpha: the paper's alpha (2.5): larger values trust the critic more, smaller ones stay
            closer to the data's actions.

    Returns:
        ``(terms, td_error)``: as `td3_loss`, plus the detached diagnostics ``bc_loss`` (the mean
        squared distance to the data's actions) and ``lmbd`` (lambda).

    Example:
        >>> pi = frl.nn.deterministic_actor(frl.nn.mlp(3, 1), action_low=-1.0, action_high=1.0)
        >>> q = frl.nn.q_value_operator(frl.nn.mlp(3 + 1, 1))
        >>> params = TensorDict(actor=pi.init(frl.random.key(0)),
        ...                     qvalue=torch.vmap(q.init)(frl.random.split(frl.random.key(1), 2)))
        >>> batch = TensorDict({"observation": torch.randn(8, 3), "action": torch.zeros(8, 1),
        ...     "next": {"observation": torch.randn(8, 3), "reward": torch.ones(8, 1),
        ...              "terminated": torch.zeros(8, 1, dtype=torch.bool)}}, batch_size=[8])
        >>> terms, _ = td3_bc_loss(pi.apply, q.apply, params, params.clone(), batch, frl.random.key(2),
        ...                        gamma=0.99, action_low=-1.0, action_high=1.0)
        >>> bool(terms["lmbd"] > 0), terms["bc_loss"].shape
        (True, torch.Size([]))

    References:
        Fujimoto and Gu (2021), arXiv:2106.06860, section 5 (lambda = alpha / mean |Q|);
        TorchRL's ``torchrl/objectives/td3_bc.py`` (``TD3BCLoss.actor_loss``).
    """
    fn = "frl.objectives.td3_bc_loss"
    shape = check_actor_critic_inputs(fn, params, target_params, batch, weight)
    bounds = _action_bounds(fn, action_low, action_high, action_spec)
    policy_action, q_actor = _first_critic_at_policy(fn, actor_apply, q_apply, params, batch, shape)
    data_action = batch.get("action")
    check_shape(fn, "action", data_action, tuple(policy_action.shape), note="the policy's action shape")
    loss_qvalue, diagnostics, td_error = _td3_critic(
        fn, actor_apply, q_apply, params, target_params, batch, key, shape, gamma=gamma,
        policy_noise=policy_noise, noise_clip=noise_clip, bounds=bounds, num_qvalue_nets=num_qvalue_nets,
        loss=loss, weight=weight)
    # Normalizing by the batch's mean |Q| makes alpha independent of the reward scale (paper, eq. 3).
    lmbd = (alpha / q_actor.abs().mean()).detach()
    bc = (policy_action - data_action.to(policy_action.dtype)).pow(2).mean(-1)
    loss_actor = weighted_mean(-lmbd * q_actor + bc, weight)
    terms = TensorDict(loss_actor=loss_actor, loss_qvalue=loss_qvalue,
                       state_action_value_actor=q_actor.detach().mean(), bc_loss=bc.detach().mean(), lmbd=lmbd)
    terms.update(diagnostics)
    return terms, td_error
