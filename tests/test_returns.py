"""frl.returns: estimators vs float64 reference loops, hand-computed values, three ways, errors."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import frl.returns as R
from frl_triton.gae.reference import gae_reference
from frl_triton.td_lambda.reference import td_lambda_reference
from frl_triton.vtrace.reference import vtrace_reference

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


def _n_step_reference(reward, next_value, done, terminated, gamma, n, time_dim=-2):
    """n-step returns by direct summation in float64, one start step at a time."""
    f64 = torch.float64
    shape = reward.shape
    r, v = (x.to(f64).movedim(time_dim, 0) for x in (reward, next_value))
    d, term = (x.movedim(time_dim, 0) for x in (done, terminated))
    g = torch.as_tensor(gamma, dtype=f64).broadcast_to(shape).movedim(time_dim, 0)
    T = r.shape[0]
    out = torch.zeros_like(r)
    for idx in itertools.product(*(range(s) for s in r.shape[1:])):
        for t in range(T):
            total, scale = 0.0, 1.0
            for k in range(t, min(T, t + n)):
                total += scale * r[(k, *idx)].item()
                scale *= g[(k, *idx)].item()
                if d[(k, *idx)] or k == T - 1 or k == t + n - 1:
                    total += 0.0 if term[(k, *idx)] else scale * v[(k, *idx)].item()
                    break
            out[(t, *idx)] = total
    return out.movedim(0, time_dim)


def _coefs(g, shape, dtype, per_step):
    if not per_step:
        return 0.95, 0.8
    gamma = (0.8 + 0.2 * torch.rand(shape, generator=g, dtype=torch.float64)).to(dtype)
    return gamma, torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    T=st.integers(1, 40),
    pattern=st.sampled_from(PATTERNS),
    dtype=st.sampled_from(list(DTYPES.values())),
    per_step=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_td_lambda_and_td1_match_reference(batch, T, pattern, dtype, per_step, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (*batch, T, 1)
    r, _, nv, done, term = _random_inputs(g, shape, dtype, pattern, -2)
    gamma, lmbda = _coefs(g, shape, dtype, per_step)
    rtol, atol = TOL[dtype]
    out = R.td_lambda_return(r, nv, done, term, gamma=gamma, lmbda=lmbda)
    assert out.dtype == dtype and out.shape == r.shape
    torch.testing.assert_close(out.double(), td_lambda_reference(r, nv, done, term, gamma, lmbda),
                               rtol=rtol, atol=atol)
    out1 = R.td1_return(r, nv, done, term, gamma=gamma)
    torch.testing.assert_close(out1.double(), td_lambda_reference(r, nv, done, term, gamma, 1.0),
                               rtol=rtol, atol=atol)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    T=st.integers(1, 40),
    pattern=st.sampled_from(PATTERNS),
    dtype=st.sampled_from(list(DTYPES.values())),
    per_step=st.booleans(),
    clip=st.sampled_from([(1.0, 1.0), (0.5, 2.0), (float("inf"), 0.9)]),
    seed=st.integers(0, 2**16),
)
def test_vtrace_matches_reference(batch, T, pattern, dtype, per_step, clip, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (*batch, T, 1)
    r, v, nv, done, term = _random_inputs(g, shape, dtype, pattern, -2)
    log_rho = (0.5 * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype)
    gamma, _ = _coefs(g, shape, dtype, per_step)
    vs, pg = R.vtrace(r, v, nv, log_rho, done, term, gamma=gamma, rho_bar=clip[0], c_bar=clip[1])
    ref_vs, ref_pg = vtrace_reference(r, v, nv, log_rho, done, term, gamma, *clip)
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(vs.double(), ref_vs, rtol=rtol, atol=atol)
    torch.testing.assert_close(pg.double(), ref_pg, rtol=rtol, atol=atol)


@settings(max_examples=20, deadline=None)
@given(
    T=st.integers(1, 9),
    n=st.integers(1, 11),
    pattern=st.sampled_from(PATTERNS),
    per_step=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_n_step_matches_direct_sum(T, n, pattern, per_step, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (2, T, 1)
    r, _, nv, done, term = _random_inputs(g, shape, torch.float64, pattern, -2)
    gamma, _ = _coefs(g, shape, torch.float64, per_step)
    out = R.n_step_return(r, nv, done, term, gamma=gamma, n=n)
    torch.testing.assert_close(out, _n_step_reference(r, nv, done, term, gamma, n))


def test_special_cases_agree():
    """TD(0) = 1-step = TD(lambda=0); TD(1) = T-step; on-policy V-trace with rho_bar=c_bar=1 = TD(1)
    targets; GAE(lambda) + value = TD(lambda) when next_value is value shifted."""
    g = torch.Generator().manual_seed(5)
    r, v, nv, done, term = _random_inputs(g, (3, 11, 1), torch.float64, "random", -2)
    td0 = R.td0_return(r, nv, done, term, gamma=0.9)
    torch.testing.assert_close(R.n_step_return(r, nv, done, term, gamma=0.9, n=1), td0)
    torch.testing.assert_close(R.td_lambda_return(r, nv, done, term, gamma=0.9, lmbda=0.0), td0)
    td1 = R.td1_return(r, nv, done, term, gamma=0.9)
    torch.testing.assert_close(R.n_step_return(r, nv, done, term, gamma=0.9, n=11), td1)
    vs, pg = R.vtrace(r, v, nv, torch.zeros_like(r), done, term, gamma=0.9)
    adv, target = R.gae(r, v, nv, done, term, gamma=0.9, lmbda=1.0)
    torch.testing.assert_close(vs, target)
    # Consistent values (next_value is the next step's value inside an episode): GAE + V = TD(lambda).
    nv = torch.cat([v[:, 1:], torch.randn(3, 1, 1, generator=g, dtype=torch.float64)], 1)
    nv = torch.where(done, torch.randn(nv.shape, generator=g, dtype=torch.float64), nv)
    adv, target = R.gae(r, v, nv, done, term, gamma=0.9, lmbda=0.7)
    torch.testing.assert_close(target, R.td_lambda_return(r, nv, done, term, gamma=0.9, lmbda=0.7))


def test_hand_computed_td_and_vtrace():
    r, nv = _vals(1, 1, 1), _vals(4, 4, 4)
    truncated, none = _flags(False, True, False), _flags(False, False, False)
    # td1 with a truncation at t=1: G_1 = 1 + 0.5*4 = 3, G_0 = 1 + 0.5*3, G_2 = 1 + 0.5*4.
    torch.testing.assert_close(R.td1_return(r, nv, truncated, none, gamma=0.5), _vals(2.5, 3, 3))
    # terminated at t=1: G_1 = 1.
    torch.testing.assert_close(R.td1_return(r, nv, truncated, gamma=0.5), _vals(1.5, 1, 3))
    # lambda=0.5, no done: G_2 = 3; G_1 = 1 + 0.5 (0.5*4 + 0.5*3) = 2.75; G_0 = 1 + 0.5 (2 + 1.375).
    torch.testing.assert_close(R.td_lambda_return(r, nv, none, gamma=0.5, lmbda=0.5),
                               _vals(2.6875, 2.75, 3))
    # V-trace, v = 0, rho = 2 clipped to rho_bar=1 and c_bar=1: vs = TD(1) returns, pg = r + g vs'.
    # Consistent values: next_value_t = value_{t+1} = 0, and 4 after the last step.
    z, nv = _vals(0, 0, 0), _vals(0, 0, 4)
    log2 = torch.full_like(r, 0.6931471805599453)
    vs, pg = R.vtrace(r, z, nv, log2, none, gamma=0.5)
    torch.testing.assert_close(vs, _vals(2.25, 2.5, 3))
    torch.testing.assert_close(pg, _vals(2.25, 2.5, 3))
    # rho_bar=2: delta = 2 (1 + 0.5 * 4 - 0) at the last step, 2 elsewhere; c = 1.
    vs, pg = R.vtrace(r, z, nv, log2, none, gamma=0.5, rho_bar=2.0)
    torch.testing.assert_close(vs, _vals(2 + 0.5 * (2 + 0.5 * 6), 2 + 0.5 * 6, 6))
    torch.testing.assert_close(pg, 2 * (1 + 0.5 * torch.cat([vs[:, 1:], nv[:, 2:]], 1)))


@pytest.mark.parametrize("T", [1, 2, 5, 12, 13, 100, 257, 1000])
@pytest.mark.parametrize("layout", ["batch_major", "time_major"])
def test_cpu_scan_lengths_and_layouts(T, layout):
    """The blocked CPU scan over every remainder pattern and both memory layouts, vs the loop."""
    g = torch.Generator().manual_seed(T)
    time_dim = -2 if layout == "batch_major" else 0
    shape = (5, T, 1) if layout == "batch_major" else (T, 5, 1)
    r, v, nv, done, term = _random_inputs(g, shape, torch.float32, "random", time_dim)
    adv, target = R.gae(r, v, nv, done, term, gamma=0.99, lmbda=0.95, time_dim=time_dim)
    ref_adv, ref_target = gae_reference(r, v, nv, done, term, 0.99, 0.95, time_dim)
    torch.testing.assert_close(adv.double(), ref_adv, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(target.double(), ref_target, rtol=1e-4, atol=1e-4)
    assert adv.stride() == r.stride()


def test_long_sequence_no_underflow_trouble():
    """gamma * lambda products underflow over long T; the blocked scan never divides by them."""
    g = torch.Generator().manual_seed(9)
    shape = (2, 5000, 1)
    r, v, nv, done, term = _random_inputs(g, shape, torch.float32, "none", -2)
    adv, _ = R.gae(r, v, nv, done, term, gamma=0.9, lmbda=0.5)
    ref_adv, _ = gae_reference(r, v, nv, done, term, 0.9, 0.5)
    assert torch.isfinite(adv).all()
    torch.testing.assert_close(adv.double(), ref_adv, rtol=1e-4, atol=1e-4)


# --- three ways, purity ---------------------------------------------------------------------------


def test_gae_three_ways(three_ways):
    g = torch.Generator().manual_seed(1)
    sets = [tuple(_random_inputs(g, (3, 6, 1), torch.float32, "random", -2)) for _ in range(2)]
    three_ways(functools.partial(R.gae, gamma=0.99, lmbda=0.95), *sets, compile_vmap=True)


def test_gae_three_ways_per_step_gamma(three_ways):
    g = torch.Generator().manual_seed(2)
    sets = []
    for _ in range(2):
        r, v, nv, d, t = _random_inputs(g, (2, 5, 1), torch.float32, "truncated", -2)
        sets.append((r, v, nv, d, t, torch.rand(2, 5, 1, generator=g)))
    three_ways(lambda r, v, nv, d, t, gm: R.gae(r, v, nv, d, t, gamma=gm, lmbda=0.9), *sets)


def test_td_estimators_three_ways(three_ways):
    g = torch.Generator().manual_seed(4)
    sets = [tuple(_random_inputs(g, (2, 7, 1), torch.float32, "random", -2))[2:] for _ in range(2)]
    rewards = [_random_inputs(g, (2, 7, 1), torch.float32, "none", -2) for _ in range(2)]
    sets = [(r, nv, d, t) for (nv, d, t), (r, *_) in zip(sets, rewards, strict=True)]
    three_ways(functools.partial(R.td_lambda_return, gamma=0.9, lmbda=0.8), *sets, compile_vmap=True)
    three_ways(functools.partial(R.td1_return, gamma=0.9), *sets)
    three_ways(functools.partial(R.td0_return, gamma=0.9), *sets)
    three_ways(functools.partial(R.n_step_return, gamma=0.9, n=3), *sets)


def test_vtrace_three_ways(three_ways):
    g = torch.Generator().manual_seed(6)
    sets = []
    for _ in range(2):
        r, v, nv, d, t = _random_inputs(g, (2, 6, 1), torch.float32, "random", -2)
        sets.append((r, v, nv, 0.3 * torch.randn(2, 6, 1, generator=g), d, t))
    three_ways(functools.partial(R.vtrace, gamma=0.9, rho_bar=1.0, c_bar=0.8), *sets, compile_vmap=True)


def test_gae_three_ways_time_major_unbatched_value(three_ways):
    """vmap with one argument shared (in_dims=None) over a time-major layout."""
    g = torch.Generator().manual_seed(8)
    sets = [_random_inputs(g, (6, 3), torch.float32, "random", 0) for _ in range(2)]
    sets[1][1] = sets[0][1]  # the unbatched argument is the same in every member
    sets = [tuple(s) for s in sets]
    three_ways(functools.partial(R.gae, gamma=0.9, lmbda=0.9, time_dim=0), *sets,
               in_dims=(0, None, 0, 0, 0))


def test_gae_compiled_graph_does_not_grow_with_T():
    """The compiled graph holds one op node whatever T is (no unrolled loop)."""
    from torch._dynamo.testing import CompileCounterWithBackend

    counts = []
    for T in (4, 64):
        torch._dynamo.reset()
        backend = CompileCounterWithBackend("eager")
        g = torch.Generator().manual_seed(T)
        args = _random_inputs(g, (2, T, 1), torch.float32, "random", -2)
        torch.compile(functools.partial(R.gae, gamma=0.9, lmbda=0.9), backend=backend,
                      fullgraph=True)(*args)
        counts.append(backend.op_count)
    assert counts[0] == counts[1]


def test_all_estimators_are_pure_with_per_step_coefficients(assert_pure):
    g = torch.Generator().manual_seed(13)
    for dtype in (torch.float32, torch.float64):
        r, v, nv, d, t = _random_inputs(g, (2, 6, 1), dtype, "random", -2)
        gm, lm, lr = (torch.rand(2, 6, 1, generator=g, dtype=dtype) for _ in range(3))
        assert_pure(lambda r, v, nv, d, t, gm, lm: R.gae(r, v, nv, d, t, gamma=gm, lmbda=lm), r, v, nv, d, t, gm, lm)
        assert_pure(lambda r, nv, d, t, gm, lm: R.td_lambda_return(r, nv, d, t, gamma=gm, lmbda=lm),
                    r, nv, d, t, gm, lm)
        assert_pure(lambda r, nv, d, t, gm: R.td1_return(r, nv, d, t, gamma=gm), r, nv, d, t, gm)
        assert_pure(lambda r, nv, d, t, gm: R.td0_return(r, nv, d, t, gamma=gm), r, nv, d, t, gm)
        assert_pure(lambda r, nv, d, t, gm: R.n_step_return(r, nv, d, t, gamma=gm, n=2), r, nv, d, t, gm)
        assert_pure(lambda r, v, nv, lr, d, t, gm: R.vtrace(r, v, nv, lr, d, t, gamma=gm), r, v, nv, lr, d, t, gm)


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
    with pytest.raises(TypeError, match=r"frl.returns.gae: done has dtype float32, expected bool"):
        R.gae(r, r, r, r, gamma=0.9, lmbda=0.9)
    with pytest.raises(ValueError, match=r"frl.returns.td_lambda_return: time_dim=-4 is out of range"):
        R.td_lambda_return(r, r, d, gamma=0.9, lmbda=0.9, time_dim=-4)
    with pytest.raises(ValueError, match=r"frl.returns.vtrace: log_rho has shape \[4, 8\]"):
        R.vtrace(r, r, r, r[..., 0], d, gamma=0.9)
    with pytest.raises(ValueError, match=r"frl.returns.n_step_return: n=0, expected an int >= 1"):
        R.n_step_return(r, r, d, gamma=0.9, n=0)
    with pytest.raises(ValueError, match=r"frl.returns.td1_return: terminated has shape"):
        R.td1_return(r, r, d, d[:2], gamma=0.9)


_COEF_CALLS = {
    "gae": lambda r, d, gamma, lmbda: R.gae(r, r, r, d, gamma=gamma, lmbda=lmbda),
    "td_lambda_return": lambda r, d, gamma, lmbda: R.td_lambda_return(r, r, d, gamma=gamma, lmbda=lmbda),
    "td0_return": lambda r, d, gamma, lmbda: R.td0_return(r, r, d, gamma=gamma),
    "td1_return": lambda r, d, gamma, lmbda: R.td1_return(r, r, d, gamma=gamma),
    "n_step_return": lambda r, d, gamma, lmbda: R.n_step_return(r, r, d, gamma=gamma, n=2),
    "vtrace": lambda r, d, gamma, lmbda: R.vtrace(r, r, r, r, d, gamma=gamma),
}
_HAS_LAMBDA = ("gae", "td_lambda_return")


@pytest.mark.parametrize("name", list(_COEF_CALLS))
@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")], ids=["above_one", "negative", "nan"])
def test_coefficients_outside_unit_interval_rejected_numbers(name, bad):
    """A float gamma / lmbda outside [0, 1] fails on the host, naming the function and the argument."""
    r = torch.zeros(2, 4, 1)
    d = torch.zeros(2, 4, 1, dtype=B)
    with pytest.raises(ValueError, match=rf"frl.returns.{name}: gamma={bad!r}, expected a value in \[0, 1\]"):
        _COEF_CALLS[name](r, d, bad, 0.9)
    if name in _HAS_LAMBDA:
        with pytest.raises(ValueError, match=rf"frl.returns.{name}: lmbda={bad!r}, expected a value in \[0, 1\]"):
            _COEF_CALLS[name](r, d, 0.9, bad)
    # The bounds themselves are valid.
    _COEF_CALLS[name](r, d, 0.0, 0.0)
    _COEF_CALLS[name](r, d, 1.0, 1.0)


@pytest.mark.parametrize(("name", "arg"), [(n, "gamma") for n in _COEF_CALLS] + [(n, "lmbda") for n in _HAS_LAMBDA])
@pytest.mark.parametrize("per_step", [False, True], ids=["scalar", "per_step"])
def test_coefficients_outside_unit_interval_rejected_tensors(name, arg, per_step):
    """A tensor gamma / lmbda outside [0, 1] fails eagerly, under vmap and compiled."""
    r = torch.zeros(2, 4, 1)
    d = torch.zeros(2, 4, 1, dtype=B)
    good = torch.full((2, 4, 1) if per_step else (), 0.5)
    bad = good.clone()
    bad.view(-1)[-1] = 1.25

    def call(r, d, c):
        coefs = {"gamma": 0.9, "lmbda": 0.9, arg: c}
        return _COEF_CALLS[name](r, d, coefs["gamma"], coefs["lmbda"])

    message = rf"frl.returns.{name}: {arg} has values outside \[0, 1\]"
    call(r, d, good)
    with pytest.raises(RuntimeError, match=message):
        call(r, d, bad)
    # vmap: one bad member among good ones.
    with pytest.raises(RuntimeError, match=message):
        torch.vmap(call)(torch.stack([r, r]), torch.stack([d, d]), torch.stack([good, bad]))
    torch.vmap(call)(torch.stack([r, r]), torch.stack([d, d]), torch.stack([good, good]))
    torch._dynamo.reset()
    compiled = torch.compile(call, fullgraph=True)
    compiled(r, d, good)
    with pytest.raises(RuntimeError, match=message):
        compiled(r, d, bad)


# --- gradients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["random", "truncated", "last"])
def test_gae_and_td_lambda_gradients(pattern):
    """Gradients to reward, value and next_value match the differentiable float64 reference loops."""
    g = torch.Generator().manual_seed(11)
    shape = (2, 9, 1)
    r, v, nv, done, term = _random_inputs(g, shape, torch.float64, pattern, -2)
    gamma = 0.8 + 0.2 * torch.rand(shape, generator=g, dtype=torch.float64)
    w1, w2 = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)

    def grads(fn, *xs):
        xs = [x.clone().requires_grad_() for x in xs]
        out = fn(*xs)
        out = out if isinstance(out, tuple) else (out,)
        loss = sum((o * w).sum() for o, w in zip(out, (w1, w2)[:len(out)], strict=True))
        return torch.autograd.grad(loss, xs)

    got = grads(lambda r, v, nv: R.gae(r, v, nv, done, term, gamma=gamma, lmbda=0.9), r, v, nv)
    ref = grads(lambda r, v, nv: gae_reference(r, v, nv, done, term, gamma, 0.9), r, v, nv)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b)
    got = grads(lambda r, nv: R.td_lambda_return(r, nv, done, term, gamma=gamma, lmbda=0.7), r, nv)
    ref = grads(lambda r, nv: td_lambda_reference(r, nv, done, term, gamma, 0.7), r, nv)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b)



def test_importing_returns_loads_no_triton_kernel_module():
    """The Triton kernel modules load on the first CUDA call only (tensordict itself may import triton)."""
    import subprocess
    import sys

    code = ("import sys, frl.returns; "
            "print([m for m in sys.modules if m.startswith('frl_triton') and m.endswith('kernel')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("shape", [(3, 0, 1), (0, 4, 1)], ids=["T=0", "B=0"])
def test_empty_inputs(shape):
    r = torch.zeros(shape)
    d = torch.zeros(shape, dtype=B)
    for out in (*R.gae(r, r, r, d, gamma=0.9, lmbda=0.9), R.td_lambda_return(r, r, d, gamma=0.9, lmbda=0.9),
                R.td1_return(r, r, d, gamma=0.9), R.n_step_return(r, r, d, gamma=0.9, n=3),
                *R.vtrace(r, r, r, r, d, gamma=0.9)):
        assert out.shape == r.shape


def test_func_grad_matches_autograd_and_vmaps():
    """torch.func.grad through the ops (the op's register_autograd alone is refused by functorch:
    its generated Function has no setup_context), and vmap over it (per-member gradients)."""
    g = torch.Generator().manual_seed(12)
    r, v, nv, done, term = _random_inputs(g, (3, 2, 7, 1), torch.float64, "random", -2)

    def loss(r, v, nv):
        adv, target = R.gae(r, v, nv, done[0], term[0], gamma=0.9, lmbda=0.8)
        lam = R.td_lambda_return(r, nv, done[0], term[0], gamma=0.9, lmbda=0.7)
        return (adv ** 2).sum() + target.sum() + (lam * v).sum()

    grads = torch.func.grad(loss, argnums=(0, 1, 2))
    xs = [x[0].clone().requires_grad_() for x in (r, v, nv)]
    expected = torch.autograd.grad(loss(*xs), xs)
    for a, b in zip(grads(r[0], v[0], nv[0]), expected, strict=True):
        torch.testing.assert_close(a, b)
    per_member = torch.vmap(grads)(r, v, nv)
    for i in range(3):
        for a, b in zip(per_member, grads(r[i], v[i], nv[i]), strict=True):
            torch.testing.assert_close(a[i], b)


def test_compiled_autograd_matches_eager():
    g = torch.Generator().manual_seed(14)
    r, v, nv, done, _ = _random_inputs(g, (2, 6, 1), torch.float64, "random", -2)

    def loss(r, v):
        adv, target = R.gae(r, v, nv, done, gamma=0.9, lmbda=0.8)  # terminated=None: done twice
        return (adv ** 2).sum() + target.sum()

    torch._dynamo.reset()
    grads = []
    for fn in (loss, torch.compile(loss, fullgraph=True)):
        xs = [r.clone().requires_grad_(), v.clone().requires_grad_()]
        grads.append(torch.autograd.grad(fn(*xs), xs))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
