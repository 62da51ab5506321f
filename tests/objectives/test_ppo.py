"""PPO loss against a float64 per-sample loop, hand-computed values, and the three ways to run."""

import functools

import pytest
import torch
from tensordict import TensorDict

import frl
from frl.objectives import clip_ppo_loss, clipped_surrogate, value_loss


def reference_surrogate(log_prob, log_prob_old, advantage, eps):
    total, clipped = 0.0, 0
    for lp, lpo, a in zip(log_prob.tolist(), log_prob_old.tolist(), advantage.tolist()):
        import math
        r = math.exp(lp - lpo)
        total += min(r * a, min(max(r, 1 - eps), 1 + eps) * a)
        clipped += abs(r - 1) > eps
    n = len(log_prob)
    return -total / n, clipped / n, sum(lpo - lp for lp, lpo in zip(log_prob.tolist(), log_prob_old.tolist())) / n


@pytest.mark.parametrize("eps", [0.1, 0.2])
def test_clipped_surrogate_matches_loop(eps):
    g = torch.Generator().manual_seed(0)
    lp, lpo, adv = (torch.randn(64, generator=g, dtype=torch.float64) * 0.3 for _ in range(3))
    loss, diag = clipped_surrogate(lp, lpo, adv, eps)
    ref_loss, ref_clip, ref_kl = reference_surrogate(lp, lpo, adv, eps)
    assert loss.item() == pytest.approx(ref_loss, rel=1e-12)
    assert diag["clip_fraction"].item() == pytest.approx(ref_clip)
    assert diag["kl_approx"].item() == pytest.approx(ref_kl, rel=1e-12)
    w = (lp - lpo).exp()
    assert diag["ESS"].item() == pytest.approx((w.sum() ** 2 / (w**2).sum() / 64).item(), rel=1e-10)


def test_clipped_surrogate_hand_values():
    # ratio 1.5 with A=+1 is clipped to 1.2; ratio 0.5 with A=-1 is clipped to 0.8 -> min(-0.5, -0.8)
    lp = torch.log(torch.tensor([1.5, 0.5], dtype=torch.float64))
    loss, diag = clipped_surrogate(lp, torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, -1.0], dtype=torch.float64), 0.2)
    assert loss.item() == pytest.approx(-(1.2 + -0.8) / 2)
    assert diag["clip_fraction"].item() == 1.0


def test_gradient_is_zero_where_clipped():
    lp = torch.log(torch.tensor([1.5, 1.05], dtype=torch.float64)).requires_grad_()
    loss, _ = clipped_surrogate(lp, torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64), 0.2)
    loss.backward()
    # d/dlp of -(r*A)/2 = -r/2 where unclipped; 0 where clipped.
    torch.testing.assert_close(lp.grad, torch.tensor([0.0, -1.05 / 2], dtype=torch.float64))


def test_value_loss_hand_values():
    v, t = torch.tensor([0.0, 3.0]), torch.tensor([0.5, 0.0])
    torch.testing.assert_close(value_loss(v, t, kind="l2"), torch.tensor([0.25, 9.0]))
    torch.testing.assert_close(value_loss(v, t, kind="smooth_l1"), torch.tensor([0.125, 2.5]))
    torch.testing.assert_close(value_loss(v, t, kind="l1"), torch.tensor([0.5, 3.0]))
    # clipped: old value 0, clip 1 -> the prediction 3.0 counts as 1.0, max(9, 1) = 9; 0.0 stays.
    clipped = value_loss(v, t, kind="l2", value_old=torch.zeros(2), clip=1.0)
    torch.testing.assert_close(clipped, torch.tensor([0.25, 9.0]))
    v2 = torch.tensor([2.0])  # target 2.5, old 0, clip 1: unclipped 0.25, clipped (1-2.5)^2=2.25
    torch.testing.assert_close(value_loss(v2, torch.tensor([2.5]), kind="l2", value_old=torch.zeros(1), clip=1.0),
                               torch.tensor([2.25]))


# A tiny linear Gaussian actor and linear critic, with torch.distributions as the independent reference.
def actor_dist(p, td):
    loc = td["observation"] @ p["w"]
    return torch.distributions.Normal(loc, p["log_std"].exp().expand_as(loc), validate_args=False)


def critic(p, td):
    return td.empty().set("state_value", td["observation"] @ p["v"])


def make_problem(seed, n=32, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    params = TensorDict(actor=TensorDict(w=torch.randn(3, 2, generator=g, dtype=dtype) * 0.5,
                                         log_std=torch.full((2,), -0.5, dtype=dtype)),
                        critic=TensorDict(v=torch.randn(3, 1, generator=g, dtype=dtype)))
    obs = torch.randn(n, 3, generator=g, dtype=dtype)
    action = torch.randn(n, 2, generator=g, dtype=dtype)
    batch = TensorDict(observation=obs, action=action,
                       action_log_prob=actor_dist(params["actor"], TensorDict(observation=obs)).log_prob(action).sum(-1)
                       + 0.1 * torch.randn(n, generator=g, dtype=dtype),
                       advantage=torch.randn(n, 1, generator=g, dtype=dtype),
                       value_target=torch.randn(n, 1, generator=g, dtype=dtype),
                       state_value=torch.randn(n, 1, generator=g, dtype=dtype), batch_size=[n])
    return params, batch


def test_clip_ppo_loss_terms_match_direct_computation():
    params, batch = make_problem(0, dtype=torch.float64)
    out = clip_ppo_loss(actor_dist, critic, params, batch, clip_epsilon=0.2, entropy_coef=0.01,
                        critic_coef=0.5, critic_loss="l2", value_clip=0.3)
    dist = actor_dist(params["actor"], batch)
    lp = dist.log_prob(batch["action"]).sum(-1)
    ref_obj, _, _ = reference_surrogate(lp, batch["action_log_prob"], batch["advantage"].squeeze(-1), 0.2)
    assert out["loss_objective"].item() == pytest.approx(ref_obj, rel=1e-10)
    v = batch["observation"] @ params["critic", "v"]
    vo, tgt = batch["state_value"], batch["value_target"]
    ref_critic = torch.maximum((v - tgt) ** 2, (vo + (v - vo).clamp(-0.3, 0.3) - tgt) ** 2).mean()
    assert out["loss_critic"].item() == pytest.approx(0.5 * ref_critic.item(), rel=1e-10)
    ent = dist.entropy().sum(-1).mean()
    assert out["entropy"].item() == pytest.approx(ent.item(), rel=1e-10)
    assert out["loss_entropy"].item() == pytest.approx(-0.01 * ent.item(), rel=1e-10)


def test_normalize_advantage_is_scale_invariant():
    params, batch = make_problem(1, dtype=torch.float64)
    scaled = batch.clone()
    scaled["advantage"] = batch["advantage"] * 7.0 + 3.0
    a = clip_ppo_loss(actor_dist, critic, params, batch, normalize_advantage=True)
    b = clip_ppo_loss(actor_dist, critic, params, scaled, normalize_advantage=True)
    assert a["loss_objective"].item() == pytest.approx(b["loss_objective"].item(), rel=1e-6)


def test_missing_key_and_bad_advantage_shape_are_clear_errors():
    params, batch = make_problem(2)
    with pytest.raises(KeyError, match=r"frl.objectives.clip_ppo_loss: batch TensorDict has no key 'advantage'"):
        clip_ppo_loss(actor_dist, critic, params, batch.exclude("advantage"))
    bad = batch.clone()
    bad["advantage"] = batch["advantage"].expand(32, 2).clone()
    with pytest.raises(ValueError, match=r"advantage has shape \[32, 2\], expected \[32, 1\]"):
        clip_ppo_loss(actor_dist, critic, params, bad)


def test_value_clip_without_state_value_is_a_clear_error():
    # The collected values were read before the key check: tensordict's raw KeyError escaped, naming
    # neither the function nor why the key is needed.
    params, batch = make_problem(2)
    batch = batch.exclude("state_value")
    with pytest.raises(KeyError, match=r"frl.objectives.clip_ppo_loss: value_clip=0.2 is set but the batch has no "
                                       r"key 'state_value': value clipping needs the critic's values at collection"):
        clip_ppo_loss(actor_dist, critic, params, batch, value_clip=0.2)
    clip_ppo_loss(actor_dist, critic, params, batch)  # without value_clip the key is not needed


def test_clip_ppo_loss_is_pure(assert_pure):
    params, batch = make_problem(3)
    assert_pure(clip_ppo_loss, actor_dist, critic, params, batch)


def test_clip_ppo_loss_three_ways(three_ways):
    fn = functools.partial(clip_ppo_loss, actor_dist, critic, clip_epsilon=0.2, value_clip=0.5)
    three_ways(fn, make_problem(4), make_problem(5), rtol=1e-4, atol=1e-5)
