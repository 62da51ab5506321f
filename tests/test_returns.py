"""frl.returns: estimators vs float64 reference loops, hand-computed values, three ways, errors."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import frl.returns as R
from frl_triton.gae.reference import gae_reference

B = torch.bool


def _flags(*xs):
    return torch.tensor(xs, dtype=B).reshape(1, -1, 1)


def _vals(*xs):
    return torch.tensor(xs, dtype=torch.float32).reshape(1, -1, 1)


# --- hand-computed values -------------------------------------------------------------------------


def test_gae_hand_computed_truncation_and_termination():
    r, v, nv = _vals(1, 1, 1), _vals(0.5, 0.5, 0.5), _vals(1, 1, 1)
    # delta_t = 1 + 0.5 * 1 - 0.5 = 1 everywhere; the trace coefficient is 0.25 except where done.
    truncated = _flags(False, True, False)
    adv, target = R.gae(r, v, nv, truncated, _flags(False, False, False), gamma=0.5, lmbda=0.5)
    torch.testing.assert_close(adv, _vals(1.25, 1.0, 1.0))
    torch.testing.assert_close(target, _vals(1.75, 1.5, 1.5))
    # Terminated at t=1: no bootstrap there, so delta_1 = 1 - 0.5 = 0.5 and A_0 = 1 + 0.25 * 0.5.
    adv, _ = R.gae(r, v, nv, truncated, gamma=0.5, lmbda=0.5)
    torch.testing.assert_close(adv, _vals(1.125, 0.5, 1.0))


def test_gae_hand_computed_discounted_sum():
    r, z, d = torch.ones(2, 5, 1), torch.zeros(2, 5, 1), torch.zeros(2, 5, 1, dtype=B)
    adv, target = R.gae(r, z, z, d, gamma=0.9, lmbda=1.0)
    torch.testing.assert_close(adv[1, :, 0], torch.tensor([4.0951, 3.439, 2.71, 1.9, 1.0]))
    torch.testing.assert_close(target, adv)


# --- reference loop over random inputs and done patterns --------------------------------------


def _random_inputs(g, shape, dtype, done_pattern, time_dim):
    T = shape[time_dim]
    r = torch.randn(shape, generator=g, dtype=torch.float64)
    v = torch.randn(shape, generator=g, dtype=torch.float64)
    nv = torch.randn(shape, generator=g, dtype=torch.float64)
    u = torch.rand(shape, generator=g)
    if done_pattern == "random":
        done = u < 0.2
        terminated = done & (torch.rand(shape, generator=g) < 0.5)
    elif done_pattern == "all":
        done = torch.ones(shape, dtype=B)
        terminated = done.clone()
    elif done_pattern == "none":
        done = terminated = torch.zeros(shape, dtype=B)
    elif done_pattern in ("first", "last"):
        idx = 0 if done_pattern == "first" else T - 1
        done = torch.zeros(shape, dtype=B)
        done.select(time_dim, idx).fill_(True)
        terminated = done.clone()
    elif done_pattern == "truncated":  # done but never terminated: always bootstrap
        done = u < 0.3
        terminated = torch.zeros(shape, dtype=B)
    else:
        raise ValueError(done_pattern)
    return [x.to(dtype) for x in (r, v, nv)] + [done, terminated]


PATTERNS = ["random", "all", "none", "first", "last", "truncated"]
DTYPES = {"f32": torch.float32, "f64": torch.float64, "bf16": torch.bfloat16}
TOL = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10), torch.bfloat16: (1.6e-2, 5e-2)}


@settings(max_examples=30, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    T=st.integers(1, 12),
    pattern=st.sampled_from(PATTERNS),
    dtype=st.sampled_from(list(DTYPES.values())),
    per_step=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gae_matches_reference(batch, T, pattern, dtype, per_step, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (*batch, T, 1)
    r, v, nv, done, term = _random_inputs(g, shape, dtype, pattern, -2)
    if per_step:
        gamma = (0.8 + 0.2 * torch.rand(shape, generator=g, dtype=torch.float64)).to(dtype)
        lmbda = torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)
    else:
        gamma, lmbda = 0.97, 0.9
    adv, target = R.gae(r, v, nv, done, term, gamma=gamma, lmbda=lmbda)
    ref_adv, ref_target = gae_reference(r, v, nv, done, term, gamma, lmbda)
    assert adv.dtype == dtype and adv.shape == r.shape
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(adv.double(), ref_adv, rtol=rtol, atol=atol)
    torch.testing.assert_close(target.double(), ref_target, rtol=rtol, atol=atol)


@pytest.mark.parametrize("time_dim", [0, 1, -1, -3])
def test_gae_time_dim(time_dim):
    g = torch.Generator().manual_seed(0)
    shape = [3, 4, 5]
    shape[time_dim] = 7
    r, v, nv, done, term = _random_inputs(g, tuple(shape), torch.float32, "random", time_dim)
    adv, target = R.gae(r, v, nv, done, term, gamma=0.9, lmbda=0.8, time_dim=time_dim)
    ref_adv, ref_target = gae_reference(r, v, nv, done, term, 0.9, 0.8, time_dim)
    torch.testing.assert_close(adv.double(), ref_adv, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(target.double(), ref_target, rtol=1e-5, atol=1e-5)


# --- three ways, purity ---------------------------------------------------------------------------


def test_gae_three_ways(three_ways):
    g = torch.Generator().manual_seed(1)
    sets = [tuple(_random_inputs(g, (3, 6, 1), torch.float32, "random", -2)) for _ in range(2)]
    three_ways(functools.partial(R.gae, gamma=0.99, lmbda=0.95), *sets)


def test_gae_three_ways_per_step_gamma(three_ways):
    g = torch.Generator().manual_seed(2)
    sets = []
    for _ in range(2):
        r, v, nv, d, t = _random_inputs(g, (2, 5, 1), torch.float32, "truncated", -2)
        sets.append((r, v, nv, d, t, torch.rand(2, 5, 1, generator=g)))
    three_ways(lambda r, v, nv, d, t, gm: R.gae(r, v, nv, d, t, gamma=gm, lmbda=0.9), *sets)


def test_gae_is_pure(assert_pure):
    g = torch.Generator().manual_seed(3)
    assert_pure(functools.partial(R.gae, gamma=0.9, lmbda=0.9),
                *_random_inputs(g, (2, 4, 1), torch.float32, "random", -2))


# --- errors ---------------------------------------------------------------------------------------


def test_gae_errors():
    r = torch.zeros(4, 8, 1)
    d = torch.zeros(4, 8, 1, dtype=B)
    with pytest.raises(ValueError, match=r"frl.returns.gae: value has shape \[4, 7, 1\], expected \[4, 8, 1\]"):
        R.gae(r, torch.zeros(4, 7, 1), r, d, gamma=0.9, lmbda=0.9)
    with pytest.raises(ValueError, match=r"frl.returns.gae: done has shape"):
        R.gae(r, r, r, d[:, :3], gamma=0.9, lmbda=0.9)
    with pytest.raises(ValueError, match=r"frl.returns.gae: time_dim=3 is out of range"):
        R.gae(r, r, r, d, gamma=0.9, lmbda=0.9, time_dim=3)
    with pytest.raises(ValueError, match=r"frl.returns.gae: gamma has shape"):
        R.gae(r, r, r, d, gamma=torch.ones(4, 8), lmbda=0.9)
    with pytest.raises(TypeError, match=r"frl.returns.gae: reward has dtype int64"):
        R.gae(r.long(), r, r, d, gamma=0.9, lmbda=0.9)
