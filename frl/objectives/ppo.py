"""Proximal Policy Optimization: the clipped surrogate objective and the full actor-critic loss.

Two levels, rlax-style:

* `clipped_surrogate` works on plain tensors (log-probs and advantages) and is what to vmap or reuse;
* `clip_ppo_loss` reads a TensorDict batch with TorchRL's keys, evaluates the actor and the critic,
  and returns a TensorDict of loss terms and diagnostics named as TorchRL's `ClipPPOLoss` names them
  (``loss_objective``, ``loss_critic``, ``loss_entropy``, ``entropy``, ``kl_approx``,
  ``clip_fraction``, ``ESS``), so logs and dashboards carry over.

References:
    Schulman et al., "Proximal Policy Optimization Algorithms" (2017), arXiv:1707.06347.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDict, TensorDictBase

from frl._checks import FrlKeyError, check_keys, check_same_shape, fail
from frl.objectives._common import joint_log_prob
from frl.objectives.keys import PPO_BATCH_KEYS
from frl.objectives.value import value_loss

__all__ = ["clipped_surrogate", "clip_ppo_loss", "PPO_BATCH_KEYS"]


def clipped_surrogate(log_prob: torch.Tensor, log_prob_old: torch.Tensor, advantage: torch.Tensor,
                      clip_epsilon: float) -> tuple[torch.Tensor, TensorDict]:
    """PPO's clipped surrogate loss for a batch of samples.

    Args:
        log_prob: log pi(a_t | s_t) under the current policy, shape [...] (gradients flow here).
        log_prob_old: log-prob of the same actions when they were collected, shape [...].
        advantage: advantage estimates A_t, shape [...].
        clip_epsilon: the ratio pi / pi_old is clipped to [1 - eps, 1 + eps].

    Returns:
        ``(loss, diagnostics)``: the scalar loss ``-mean(min(r A, clip(r) A))``, and a TensorDict with
        ``kl_approx`` (mean of log pi_old - log pi, TorchRL's estimate), ``clip_fraction`` (share of
        samples whose ratio lies outside the clip range) and ``ESS`` (normalized effective sample
        size of the importance weights), all detached.
    """
    fn = "frl.objectives.clipped_surrogate"
    check_same_shape(fn, "log_prob", log_prob, log_prob_old=log_prob_old, advantage=advantage)
    log_ratio = log_prob - log_prob_old.detach()
    ratio = log_ratio.exp()
    advantage = advantage.detach()
    gain = torch.minimum(ratio * advantage, ratio.clamp(1.0 - clip_epsilon, 1.0 + clip_epsilon) * advantage)
    with torch.no_grad():
        lw = log_ratio.detach().reshape(-1)
        # ESS = (sum w)^2 / sum w^2 / n, computed in log space so large ratios cannot overflow.
        ess = (2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0)).exp() / lw.numel()
        diagnostics = TensorDict(
            kl_approx=(-lw).mean(),
            clip_fraction=((ratio.detach() - 1.0).abs() > clip_epsilon).float().mean(),
            ESS=ess,
        )
    return -gain.mean(), diagnostics


def _summed_log_prob(dist, action: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # Distributions return elementwise log-probs for continuous actions [..., act_dim]; PPO (like
    # TorchRL) uses the joint log-prob of the action vector, shaped as the stored action_log_prob.
    return joint_log_prob(dist.log_prob(action), like.dim())


def _entropy(dist, key: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """Closed-form entropy where the distribution has one, else a one-sample Monte-Carlo estimate."""
    if getattr(dist, "has_entropy", True):
        ent = dist.entropy()
    else:
        if key is None:
            fail("frl.objectives.clip_ppo_loss",
                 f"{type(dist).__name__} has no closed-form entropy: pass a key for the Monte-Carlo "
                 "estimate, or set entropy_coef=0")
        sample = dist.sample(key)
        ent = -dist.log_prob(sample)
    # Independent action dimensions: the joint entropy sums like the joint log-prob.
    return joint_log_prob(ent, like.dim())


def clip_ppo_loss(actor_dist: Callable[[TensorDictBase, TensorDictBase], object],
                  critic: Callable[[TensorDictBase, TensorDictBase], TensorDictBase],
                  params: TensorDictBase, batch: TensorDictBase, key: torch.Tensor | None = None, *,
                  clip_epsilon: float = 0.2, entropy_coef: float = 0.01, critic_coef: float = 1.0,
                  critic_loss: str = "smooth_l1", value_clip: float | None = None,
                  normalize_advantage: bool = False) -> TensorDict:
    """The clipped PPO loss of an actor-critic on one batch, as TorchRL's ``ClipPPOLoss`` computes it.

    Args:
        actor_dist: ``actor_dist(actor_params, batch) -> distribution`` with ``log_prob(action)``,
            and ``entropy()`` (or ``has_entropy = False`` and ``sample(key)``); e.g.
            ``actor.get_dist`` of an `frl.nn.probabilistic_actor`.
        critic: ``critic(critic_params, batch) -> TensorDict`` holding ``"state_value"`` [*B, 1];
            e.g. the ``apply`` of `frl.nn.value_operator`.
        params: TensorDict with ``"actor"`` and ``"critic"`` sub-TensorDicts.
        batch: TensorDict [*B] with ``"action"``, ``"action_log_prob"`` [*B] (joint log-prob at
            collection time), ``"advantage"`` [*B, 1], ``"value_target"`` [*B, 1], what the actor
            and critic read (usually ``"observation"``), and ``"state_value"`` [*B, 1] when
            ``value_clip`` is set.
        key: random key for the Monte-Carlo entropy of distributions without a closed form.
        clip_epsilon: PPO's ratio clip.
        entropy_coef: weight of the entropy bonus (``loss_entropy = -entropy_coef * entropy``).
        critic_coef: weight of the critic loss.
        critic_loss: "smooth_l1" (TorchRL's default), "l2" or "l1".
        value_clip: PPO2-style value clipping around the collected ``"state_value"``; None: off.
        normalize_advantage: standardize advantages over the batch.

    Returns:
        TensorDict of scalars: ``loss_objective``, ``loss_critic``, ``loss_entropy`` (sum them for the
        total loss), and detached diagnostics ``entropy``, ``kl_approx``, ``clip_fraction``, ``ESS``.
    """
    fn = "frl.objectives.clip_ppo_loss"
    check_keys(fn, batch, PPO_BATCH_KEYS, what="batch")
    check_keys(fn, params, ("actor", "critic"), what="params")
    if value_clip is not None and "state_value" not in batch.keys():
        # Checked before anything is read: the clipped loss needs the values predicted at collection time.
        fail(fn, f"value_clip={value_clip} is set but the batch has no key 'state_value': value clipping "
                 "needs the critic's values at collection time (store them with the rollout, or set "
                 "value_clip=None)", FrlKeyError)
    old_log_prob = batch["action_log_prob"]
    advantage = batch["advantage"]
    if advantage.shape[:-1] != old_log_prob.shape or advantage.shape[-1:] != (1,):
        fail(fn, f"advantage has shape {list(advantage.shape)}, expected {list(old_log_prob.shape) + [1]} "
                 "(the shape of action_log_prob plus a trailing 1)")
    advantage = advantage.squeeze(-1)
    if normalize_advantage:
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)

    dist = actor_dist(params["actor"], batch)
    log_prob = _summed_log_prob(dist, batch["action"], old_log_prob)
    loss_objective, diagnostics = clipped_surrogate(log_prob, old_log_prob, advantage, clip_epsilon)

    value = critic(params["critic"], batch)["state_value"]
    value_old = batch["state_value"] if value_clip is not None else None
    loss_critic = value_loss(value, batch["value_target"], kind=critic_loss, value_old=value_old,
                             clip=value_clip).mean()

    out = TensorDict(loss_objective=loss_objective, loss_critic=critic_coef * loss_critic)
    if entropy_coef != 0.0:
        entropy = _entropy(dist, key, old_log_prob).mean()
        out["loss_entropy"] = -entropy_coef * entropy
        out["entropy"] = entropy.detach()
    else:
        out["loss_entropy"] = torch.zeros((), dtype=loss_objective.dtype, device=loss_objective.device)
    out.update(diagnostics)
    return out
