"""frl.nn distributions against torch.distributions in float64, and TanhNormal at its bounds."""

import math

import pytest
import torch
import torch.distributions as D
from hypothesis import given, settings
from hypothesis import strategies as st

import frl
from frl import nn as fnn

F64 = torch.float64


def _loc_scale(shape=(6, 3), seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(shape, generator=g, dtype=dtype)
    scale = torch.rand(shape, generator=g, dtype=dtype) + 0.2
    return loc, scale


def test_normal_matches_torch():
    loc, scale = _loc_scale()
    d, ref = fnn.Normal(loc, scale), D.Normal(loc, scale)
    x = torch.randn(6, 3, dtype=F64) * 2
    torch.testing.assert_close(d.log_prob(x), ref.log_prob(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(d.entropy(), ref.entropy(), rtol=1e-12, atol=1e-12)
    assert torch.equal(d.mode, loc) and torch.equal(d.mean, loc)
    x, lp = d.sample_and_log_prob(frl.random.key(0))
    torch.testing.assert_close(lp, ref.log_prob(x), rtol=1e-12, atol=1e-12)
    # Gradients of log_prob and entropy with respect to loc and scale.
    loc.requires_grad_()
    scale.requires_grad_()
    x = x.detach()
    ours = torch.autograd.grad((fnn.Normal(loc, scale).log_prob(x) + fnn.Normal(loc, scale).entropy()).sum(),
                               (loc, scale))
    theirs = torch.autograd.grad((D.Normal(loc, scale).log_prob(x) + D.Normal(loc, scale).entropy()).sum(),
                                 (loc, scale))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_independent_normal_matches_torch():
    loc, scale = _loc_scale()
    d, ref = fnn.IndependentNormal(loc, scale), D.Independent(D.Normal(loc, scale), 1)
    x = torch.randn(6, 3, dtype=F64)
    torch.testing.assert_close(d.log_prob(x), ref.log_prob(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(d.entropy(), ref.entropy(), rtol=1e-12, atol=1e-12)
    assert d.log_prob(x).shape == (6,)


def test_normal_sample_moments_and_reparameterization():
    loc = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    scale = torch.tensor([0.5, 3.0], dtype=F64, requires_grad=True)
    x = fnn.Normal(loc, scale).sample(frl.random.key(1), (200_000,))
    assert x.shape == (200_000, 2)
    torch.testing.assert_close(x.mean(0), loc.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(x.std(0), scale.detach(), rtol=0.01, atol=0)
    # d sample / d loc = 1 and d sample / d scale = the standard-normal draw.
    g_loc, g_scale = torch.autograd.grad(x.sum(), (loc, scale))
    torch.testing.assert_close(g_loc, torch.full((2,), 200_000.0, dtype=F64))
    eps = (x.detach() - loc.detach()) / scale.detach()
    torch.testing.assert_close(g_scale, eps.sum(0))


def _tanh_ref(loc, scale, low, high):
    mid, half = (high + low) / 2, (high - low) / 2
    return D.Independent(D.TransformedDistribution(
        D.Normal(loc, scale), [D.TanhTransform(), D.AffineTransform(mid, half)]), 1)


BOUNDS = [(-1.0, 1.0), (-2.0, 3.0), (torch.tensor([-1.0, 0.0, -5.0], dtype=F64),
                                      torch.tensor([1.0, 2.0, -4.0], dtype=F64))]


@pytest.mark.parametrize("low,high", BOUNDS, ids=["unit", "shifted", "per-dim"])
def test_tanh_normal_density_matches_torch(low, high):
    loc, scale = _loc_scale()
    d, ref = fnn.TanhNormal(loc, scale, low, high), _tanh_ref(loc, scale, low, high)
    action, lp = d.sample_and_log_prob(frl.random.key(2))
    assert action.shape == (6, 3) and lp.shape == (6,)
    assert (action > torch.as_tensor(low)).all() and (action < torch.as_tensor(high)).all()
    torch.testing.assert_close(lp, ref.log_prob(action), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(d.log_prob(action), lp, rtol=1e-10, atol=1e-10)
    mid, half = (high + low) / 2, (high - low) / 2
    torch.testing.assert_close(d.mode, mid + half * torch.tanh(loc))
    torch.testing.assert_close(d.sample(frl.random.key(2)), action)


def test_tanh_normal_log_prob_agrees_with_sampling_in_float32():
    loc, scale = _loc_scale((64, 4), seed=1, dtype=torch.float32)
    d = fnn.TanhNormal(loc, scale, -2.0, 2.0)
    action, lp = d.sample_and_log_prob(frl.random.key(3))
    torch.testing.assert_close(d.log_prob(action), lp, rtol=1e-4, atol=1e-3)


def test_tanh_normal_samples_follow_the_pre_tanh_gaussian():
    loc = torch.tensor([0.3, -1.0], dtype=F64)
    scale = torch.tensor([0.5, 1.5], dtype=F64)
    a = fnn.TanhNormal(loc, scale, -2.0, 2.0).sample(frl.random.key(4), (100_000,))
    z = (torch.atanh(a / 2) - loc) / scale
    torch.testing.assert_close(z.mean(0), torch.zeros(2, dtype=F64), atol=0.01, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(2, dtype=F64), atol=0.01, rtol=0)


@pytest.mark.parametrize("loc_value,scale_value,atol", [(0.0, 0.1, 1e-9), (0.7, 1.0, 1e-8), (-1.5, 2.0, 1e-4),
                                                        (0.0, 2.0, 1e-4), (2.0, 3.0, 1e-3)],
                         ids=["narrow", "unit", "wide", "wide-centred", "wider"])
def test_tanh_normal_entropy_matches_numerical_integration(loc_value, scale_value, atol):
    loc = torch.full((1,), loc_value, dtype=F64)
    scale = torch.full((1,), scale_value, dtype=F64)
    low, high = -2.0, 1.0
    # Independent reference: E[-log p(a)] by the trapezoid rule on a fine grid of the pre-tanh u, with
    # p(a) = N(u) / |da/du|, da/du = half / cosh(u)^2 (no tanh, so no saturation in float64).
    u = torch.linspace(loc_value - 12 * scale_value, loc_value + 12 * scale_value, 400_001, dtype=F64)
    log_pu = D.Normal(loc, scale).log_prob(u)
    neg_log_pa = -log_pu + math.log((high - low) / 2) - 2 * torch.log(torch.cosh(u))
    expected = torch.trapezoid(log_pu.exp() * neg_log_pa, u)
    torch.testing.assert_close(fnn.TanhNormal(loc, scale, low, high).entropy(), expected,
                               atol=atol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_tanh_normal_finite_at_and_near_bounds(dtype):
    low, high = -2.0, 3.0
    loc = torch.tensor([[0.0, 5.0, -5.0, 0.5]], dtype=dtype).repeat(4, 1).requires_grad_()
    scale = torch.tensor([[0.5, 0.1, 2.0, 1e-3]], dtype=dtype).repeat(4, 1).requires_grad_()
    eps = torch.finfo(dtype).eps
    action = torch.stack([torch.full((4,), low, dtype=dtype), torch.full((4,), high, dtype=dtype),
                          torch.full((4,), low + 4 * eps, dtype=dtype),
                          torch.full((4,), high - 4 * eps, dtype=dtype)]).requires_grad_()
    d = fnn.TanhNormal(loc, scale, low, high)
    lp = d.log_prob(action)
    assert torch.isfinite(lp).all()
    grads = torch.autograd.grad(lp.sum(), (loc, scale, action))
    for g in grads:
        assert torch.isfinite(g).all()
    # Entropy and its gradients stay finite for extreme parameters too.
    h = fnn.TanhNormal(loc * 10, scale, low, high).entropy()
    assert torch.isfinite(h).all()
    assert all(torch.isfinite(g).all() for g in torch.autograd.grad(h.sum(), (loc, scale)))


def test_tanh_normal_grads_match_torch_in_float64():
    loc, scale = _loc_scale()
    loc.requires_grad_()
    scale.requires_grad_()
    action = fnn.TanhNormal(loc, scale, -2.0, 3.0).sample(frl.random.key(5)).detach()
    ours = torch.autograd.grad(fnn.TanhNormal(loc, scale, -2.0, 3.0).log_prob(action).sum(), (loc, scale))
    theirs = torch.autograd.grad(_tanh_ref(loc, scale, -2.0, 3.0).log_prob(action).sum(), (loc, scale))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)
    # Reparameterized sampling path: the gradient of the sampled log-prob equals torch's rsample path.
    _, lp = fnn.TanhNormal(loc, scale).sample_and_log_prob(frl.random.key(6))
    g = torch.autograd.grad(lp.sum(), (loc, scale))
    eps = frl.random.normal(frl.random.key(6), (6, 3), F64)
    u = loc + scale * eps
    ref = (D.Normal(loc, scale).log_prob(u) - torch.log(1 - torch.tanh(u) ** 2)).sum()
    for a, b in zip(g, torch.autograd.grad(ref, (loc, scale)), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)


def test_categorical_matches_torch():
    logits = torch.randn(5, 4, dtype=F64)
    logits[0, 1] = -math.inf  # a masked action
    d, ref = fnn.Categorical(logits), D.Categorical(logits=logits)
    idx = torch.tensor([0, 1, 2, 3, 3])
    torch.testing.assert_close(d.log_prob(idx), ref.log_prob(idx))
    torch.testing.assert_close(d.entropy(), ref.entropy())
    torch.testing.assert_close(d.probs, ref.probs)
    assert torch.equal(d.mode, logits.argmax(-1))
    # log_prob broadcasts over leading sample dimensions.
    many = torch.randint(0, 4, (7, 5))
    torch.testing.assert_close(d.log_prob(many), ref.log_prob(many))
    logits.requires_grad_()
    (g,) = torch.autograd.grad(fnn.Categorical(logits).entropy().sum(), logits)
    assert torch.isfinite(g).all()
    (g_ref,) = torch.autograd.grad(D.Categorical(logits=logits).entropy().sum(), logits)
    torch.testing.assert_close(g, g_ref)


def test_categorical_sample_frequencies():
    p = torch.tensor([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], dtype=F64)
    d = fnn.Categorical(p.log())
    s = d.sample(frl.random.key(7), (100_000,))
    assert s.shape == (100_000, 2) and s.dtype == torch.int64
    freq = torch.stack([torch.bincount(s[:, i], minlength=3) for i in range(2)]).double() / 1e5
    torch.testing.assert_close(freq, p, atol=0.01, rtol=0)
    idx, lp = d.sample_and_log_prob(frl.random.key(8))
    torch.testing.assert_close(lp, p.log().gather(-1, idx[:, None]).squeeze(-1))


def test_one_hot_categorical_matches_torch():
    logits = torch.randn(5, 4, dtype=F64)
    d, ref = fnn.OneHotCategorical(logits), D.OneHotCategorical(logits=logits)
    x, lp = d.sample_and_log_prob(frl.random.key(9))
    assert x.shape == (5, 4) and torch.equal(x.sum(-1), torch.ones(5, dtype=F64))
    torch.testing.assert_close(lp, ref.log_prob(x))
    torch.testing.assert_close(d.entropy(), ref.entropy())
    assert torch.equal(d.mode.argmax(-1), logits.argmax(-1))


def _all_methods(loc, scale, logits, key):
    # Two random draws only: each distinct draw costs a cold inductor build of frl.random's kernels.
    k1, k2 = frl.random.split(key)
    tn = fnn.TanhNormal(loc, scale, -2.0, 2.0)
    a, lp = tn.sample_and_log_prob(k1)
    n = fnn.IndependentNormal(loc, scale)
    c = fnn.Categorical(logits)
    i, clp = c.sample_and_log_prob(k2)
    return (a, lp, tn.log_prob(a), tn.entropy(), tn.mode, n.log_prob(a), n.entropy(),
            i, clp, c.entropy(), c.mode, c.log_prob(c.mode))


def test_three_ways(three_ways):
    arg_sets = []
    for s in range(3):
        loc, scale = _loc_scale((4, 2), seed=s, dtype=torch.float32)
        arg_sets.append((loc, scale, torch.randn(4, 3), frl.random.key(s)))
    three_ways(_all_methods, *arg_sets, rtol=1e-4, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.floats(-3, 3), st.floats(0.05, 3),
       st.floats(-5, 5), st.floats(0.1, 10), st.integers(0, 2**31))
def test_tanh_normal_matches_torch_for_any_shape_and_box(shape, loc0, scale0, low, width, seed):
    g = torch.Generator().manual_seed(seed)
    loc = loc0 + 0.5 * torch.randn(shape, generator=g, dtype=F64)
    scale = scale0 * (0.5 + torch.rand(shape, generator=g, dtype=F64))
    high = low + width
    d = fnn.TanhNormal(loc, scale, low, high)
    action, lp = d.sample_and_log_prob(frl.random.key(seed))
    assert action.shape == tuple(shape) and lp.shape == tuple(shape[:-1])
    assert ((action >= low) & (action <= high)).all()
    mid, half = (high + low) / 2, width / 2
    t = ((action - mid) / half).abs()
    # Compare with torch where tanh is not saturated (torch's inverse transform needs |t| < 1).
    ok = (t < 1 - 1e-9).all(-1)
    if ok.any():
        ref = _tanh_ref(loc, scale, low, high).log_prob(action.clamp(low + 1e-12, high - 1e-12))
        torch.testing.assert_close(lp[ok], ref[ok], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(d.log_prob(action)[ok], lp[ok], rtol=1e-6, atol=1e-6)
    assert torch.isfinite(d.log_prob(action)).all()
