"""frl_triton.sumtree: invariants of the K-ary sum tree, drift, the Triton kernels vs the pure-torch CPU tree."""

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from frl_triton.sumtree import cpu


def _assert_consistent(lay, s, m, leaves):
    """Every internal node equals the sum (min) of its children; the root equals the leaves' sum."""
    torch.testing.assert_close(s[: lay.capacity], leaves, rtol=0, atol=0)
    for level in range(len(lay.offsets) - 1):
        n_par = lay.sizes[level] // lay.arity
        a = lay.offsets[level]
        kids_s = s[a: a + lay.sizes[level]].view(n_par, lay.arity)
        kids_m = m[a: a + lay.sizes[level]].view(n_par, lay.arity)
        p = lay.offsets[level + 1]
        torch.testing.assert_close(s[p: p + n_par], kids_s.sum(-1), rtol=1e-15, atol=0)
        assert torch.equal(m[p: p + n_par], kids_m.amin(-1))
    exact = sum(sorted(leaves.tolist()))  # float64 loop, independent of torch's reductions
    assert abs(cpu.total(lay, s).item() - exact) <= 1e-12 * max(exact, 1e-300)
    positive = leaves[leaves > 0]
    want_min = positive.min().item() if positive.numel() else float("inf")
    assert cpu.minimum(lay, m).item() == want_min


@pytest.mark.parametrize("capacity,arity", [(1, 2), (5, 2), (33, 4), (100, 32), (1000, 8)])
def test_layout_levels(capacity, arity):
    lay = cpu.layout(capacity, arity)
    assert lay.sizes[0] >= capacity and lay.sizes[-1] == 1
    for level in range(len(lay.sizes) - 1):
        assert lay.sizes[level] % arity == 0
        assert lay.sizes[level + 1] >= lay.sizes[level] // arity


@settings(max_examples=40, deadline=None)
@given(capacity=st.integers(1, 300), arity=st.sampled_from([2, 3, 8, 32]),
       updates=st.lists(st.lists(st.tuples(st.integers(0, 10**6), st.floats(0, 1e6)), min_size=1, max_size=20),
                        min_size=1, max_size=6))
def test_updates_keep_the_tree_consistent(capacity, arity, updates):
    lay = cpu.layout(capacity, arity)
    s, m = cpu.init(lay)
    leaves = torch.zeros(capacity, dtype=torch.float64)
    for batch in updates:
        idx = torch.tensor([i % capacity for i, _ in batch])
        val = torch.tensor([v for _, v in batch], dtype=torch.float64)
        cpu.update(lay, s, m, idx, val)
        for i, v in zip(idx.tolist(), val.tolist(), strict=True):  # sequential semantics: the last write wins
            leaves[i] = v
        _assert_consistent(lay, s, m, leaves)


@settings(max_examples=40, deadline=None)
@given(leaves=st.lists(st.one_of(st.just(0.0), st.floats(1e-30, 1e30)), min_size=1, max_size=200),
       arity=st.sampled_from([2, 4, 32]), seed=st.integers(0, 2**31))
def test_sample_matches_prefix_sums_and_skips_zeros(leaves, arity, seed):
    lay = cpu.layout(len(leaves), arity)
    x = torch.tensor(leaves, dtype=torch.float64)
    s, _ = cpu.rebuild(lay, x)
    if cpu.total(lay, s) == 0:
        return
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(64, dtype=torch.float64, generator=g) * cpu.total(lay, s)
    u[0] = 0.0
    u[1] = cpu.total(lay, s)  # the top edge is clamped into the last positive leaf
    idx = cpu.sample(lay, s, u)
    assert (x[idx] > 0).all()
    # Away from rounding ties the leaf is the one whose prefix-sum interval holds u.
    c = torch.cumsum(x, 0)
    want = torch.searchsorted(c, u[2:], right=True).clamp(max=len(leaves) - 1)
    agree = (idx[2:] == want) | (x[want] == 0) | torch.isclose(u[2:], c[want], rtol=1e-9)
    assert agree.all()


def test_no_drift_after_a_million_updates():
    capacity, arity = 4096, 32
    lay = cpu.layout(capacity, arity)
    s, m = cpu.init(lay)
    g = torch.Generator().manual_seed(0)
    leaves = torch.zeros(capacity, dtype=torch.float64)
    batch = 2000
    for _ in range(500):  # 500 x 2000 = 1e6 updates, values over 16 orders of magnitude, many zeros
        idx = torch.randint(0, capacity, (batch,), generator=g)
        val = 10 ** (torch.rand(batch, dtype=torch.float64, generator=g) * 16 - 8)
        val[torch.rand(batch, generator=g) < 0.3] = 0.0
        cpu.update(lay, s, m, idx, val)
        leaves[idx] = cpu.last_write_values(idx, val)
    _assert_consistent(lay, s, m, leaves)
    for _ in range(20):
        u = torch.rand(5000, dtype=torch.float64, generator=g) * cpu.total(lay, s)
        assert (leaves[cpu.sample(lay, s, u)] > 0).all()


def test_last_write_values():
    idx = torch.tensor([4, 1, 4, 2, 1, 4])
    val = torch.tensor([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    assert cpu.last_write_values(idx, val).tolist() == [15.0, 14.0, 15.0, 13.0, 14.0, 15.0]


@settings(max_examples=40, deadline=None)
@given(capacity=st.integers(1, 400), arity=st.sampled_from([2, 3, 32]), start=st.integers(0, 10**4),
       n=st.integers(1, 400), seed=st.integers(0, 1000))
# A wrapping write when capacity is not a multiple of K**level: the two pieces of the run touched one
# more parent than update_range recomputed (its root then differed from the sum of the leaves).
@example(capacity=257, arity=2, start=11, n=247, seed=0)
def test_update_range_equals_update(capacity, arity, start, n, seed):
    n = min(n, capacity)
    lay = cpu.layout(capacity, arity)
    g = torch.Generator().manual_seed(seed)
    s, m = cpu.rebuild(lay, torch.rand(capacity, dtype=torch.float64, generator=g))
    s2, m2 = s.clone(), m.clone()
    val = torch.rand(n, dtype=torch.float64, generator=g)
    val[::4] = 0.0
    cpu.update_range(lay, s, m, torch.tensor(start % capacity), n, val)
    cpu.update(lay, s2, m2, (start % capacity + torch.arange(n)) % capacity, val)
    torch.testing.assert_close(s, s2, rtol=1e-15, atol=0)
    assert torch.equal(m, m2)
