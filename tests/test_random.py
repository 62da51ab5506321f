"""frl.random: determinism, independence of split streams, distributions, and the three ways to run."""

import math

import pytest
import torch

from frl import random as fr


def test_same_key_same_numbers_and_split_keys_differ():
    k = fr.key(123)
    assert torch.equal(fr.uniform(k, (100,)), fr.uniform(fr.key(123), (100,)))
    a, b = fr.split(k)
    assert not torch.equal(fr.uniform(a, (100,)), fr.uniform(b, (100,)))
    assert not torch.equal(fr.key(0), fr.key(1))


def test_split_keys_are_all_distinct():
    keys = fr.split(fr.key(7), 100_000)
    packed = keys[:, 0] * (1 << 31) + keys[:, 1]
    assert packed.unique().numel() == 100_000


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_uniform_moments_and_range(dtype):
    u = fr.uniform(fr.key(1), (200_000,), dtype)
    assert u.dtype == dtype
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean().item() - 0.5) < 0.005
    assert abs(u.var().item() - 1 / 12) < 0.002


def test_normal_moments():
    z = fr.normal(fr.key(2), (400_000,))
    assert torch.isfinite(z).all()
    assert abs(z.mean().item()) < 0.01
    assert abs(z.std().item() - 1.0) < 0.01
    # fourth moment of a standard normal is 3
    assert abs((z**4).mean().item() - 3.0) < 0.1


def test_uniform_chi_square():
    # 100 equal bins, 1e6 draws: the chi-square statistic with 99 dof stays below its 0.999 quantile.
    counts = torch.histc(fr.uniform(fr.key(3), (1_000_000,)), bins=100, min=0, max=1)
    expected = 10_000
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 148.2


def test_randint_categorical_permutation():
    r = fr.randint(fr.key(4), (60_000,), 2, 5)
    assert r.min() == 2 and r.max() == 4
    freq = torch.bincount(r - 2).float() / r.numel()
    torch.testing.assert_close(freq, torch.full((3,), 1 / 3), atol=0.01, rtol=0)
    p = torch.tensor([0.1, 0.2, 0.7])
    c = fr.categorical(fr.key(5), p.log(), (100_000,))
    torch.testing.assert_close(torch.bincount(c).float() / 1e5, p, atol=0.01, rtol=0)
    perm = fr.permutation(fr.key(6), 1000)
    assert torch.equal(perm.sort().values, torch.arange(1000))


def test_consecutive_draws_are_uncorrelated():
    u = fr.uniform(fr.key(8), (100_001,))
    corr = torch.corrcoef(torch.stack([u[:-1], u[1:]]))[0, 1]
    assert abs(corr.item()) < 0.01


def test_fold_in_depends_on_data():
    k = fr.key(9)
    assert not torch.equal(fr.fold_in(k, 1), fr.fold_in(k, 2))
    assert torch.equal(fr.fold_in(k, 1), fr.fold_in(k, 1))


def test_bad_key_is_a_clear_error():
    with pytest.raises(TypeError, match=r"frl.random.uniform: key must be an int64 tensor of shape \[2\]"):
        fr.uniform(torch.zeros(2), (3,))


@pytest.mark.parametrize("name, draw", [
    ("uniform", lambda k: fr.uniform(k, (3,))),
    ("normal", lambda k: fr.normal(k, (3,))),
    ("randint", lambda k: fr.randint(k, (3,), 0, 5)),
    ("bits", lambda k: fr.bits(k, (3,))),
    ("bernoulli", lambda k: fr.bernoulli(k, 0.5, (3,))),
    ("gumbel", lambda k: fr.gumbel(k, (3,))),
    ("categorical", lambda k: fr.categorical(k, torch.zeros(3, 4))),
    ("permutation", lambda k: fr.permutation(k, 5)),
    ("split", lambda k: fr.split(k)),
    ("fold_in", lambda k: fr.fold_in(k, 1)),
], ids=lambda x: x if isinstance(x, str) else "")
def test_bad_key_error_names_the_function_called(name, draw):
    with pytest.raises(TypeError, match=rf"^frl.random.{name}: key must be an int64 tensor of shape \[2\]"):
        draw(torch.zeros(2))


def test_three_ways(three_ways):
    def draw(k):
        k1, k2, k3 = fr.split(k, 3)
        return fr.uniform(k1, (5,)), fr.normal(k2, (2, 3)), fr.randint(k3, (4,), 0, 10)

    # Integers and uniforms agree bit for bit; normals to an ulp (compiled log / cos differ).
    three_ways(draw, (fr.key(0),), (fr.key(1),), (fr.key(2),), rtol=0, atol=3e-7, compile_vmap=True)


def test_key_from_tensor_seed_matches_int_seed():
    assert torch.equal(fr.key(torch.tensor(5)), fr.key(5))
    seeds = torch.arange(4)
    keys = torch.vmap(fr.key)(seeds)
    assert torch.equal(keys[3], fr.key(3))
    # Large seeds use both words.
    assert not torch.equal(fr.key(1), fr.key(1 + (1 << 32)))
    assert math.isfinite(float(fr.normal(fr.key(2**40), ()).item()))


# ---- the generator itself, against a plain-Python reference ---------------------------------------

_M = 0xFFFFFFFF


def _ref_hash(x):
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & _M
    x ^= x >> 15
    x = (x * 0x735A2D97) & _M
    return x ^ (x >> 15)


def _ref_permute(k0, k1, lo, hi):
    left, right = lo, hi
    for rk in (k0, k1, k0 ^ 0x6A09E667, k1 ^ 0x6A09E667):
        left, right = right, left ^ _ref_hash(right ^ rk)
    return left, right


def _ref_words(key, n, domain):
    k0, k1 = (int(w) for w in key)
    return [_ref_permute(k0, k1, c, domain) for c in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 8, 9])
def test_int32_lanes_match_unsigned_reference(n):
    # The int32 arithmetic (wrapping products, masked shifts) is the unsigned 32-bit generator,
    # for the unrolled small counts and the arange path alike.
    k = fr.key(2**40 + 11)
    assert fr.key(2**40 + 11).tolist() == list(_ref_permute(0x3C6EF372, 0xBB67AE85, 11, 2**8))
    words = _ref_words(k, n, 0x5BD1E995)
    assert fr.split(k, n).tolist() == [list(w) for w in words]
    assert fr.bits(k, (n,)).tolist() == [w0 for w0, _ in _ref_words(k, n, 0)]
    assert fr.fold_in(k, 7).tolist() == list(_ref_permute(*(int(w) for w in k), 7, 0x1B873593))


def test_draws_and_splits_of_one_key_are_independent():
    # The envs draw from a key and also split the next key from it: the two use separate domains.
    keys = fr.split(fr.key(10), 20_000)
    drawn = torch.vmap(lambda k: fr.bits(k, ()))(keys)
    child = torch.vmap(lambda k: fr.split(k, 1)[0, 0])(keys)
    assert not torch.isin(drawn, child).any()
    u = torch.vmap(lambda k: fr.uniform(k, ()))(keys)
    v = torch.vmap(lambda k: fr.uniform(fr.split(k, 1)[0], ()))(keys)
    corr = torch.corrcoef(torch.stack([u, v]))[0, 1]
    assert abs(corr.item()) < 0.03


def test_small_eager_draws_on_python_ints_equal_the_tensor_path(monkeypatch):
    """Small eager draws of one key run on Python ints (fast); they must give the tensor path's bits."""
    keys = [fr.key(s) for s in (0, 1, 2**40 + 7)] + [fr.split(fr.key(3), 4)[2]]
    draws = [lambda k: fr.split(k, 3), lambda k: fr.fold_in(k, 12345), lambda k: fr.bits(k, (2, 4)),
             lambda k: fr.uniform(k, (3,)), lambda k: fr.normal(k, (5,)), lambda k: fr.randint(k, (2,), 0, 7),
             lambda k: fr.split(k, 8)]  # _HOST_MAX counters, the largest draw on Python ints
    fast = [[d(k) for d in draws] for k in keys]
    monkeypatch.setattr(fr, "_HOST_MAX", 0)  # every draw through the tensor path
    slow = [[d(k) for d in draws] for k in keys]
    for f_row, s_row in zip(fast, slow, strict=True):
        for f, s in zip(f_row, s_row, strict=True):
            assert f.dtype == s.dtype and torch.equal(f, s)
