"""frl.buffers.prioritized: proportional sampling, importance weights, priorities, three ways."""

import pytest
import torch

import frl
import frl.buffers as fb
from frl import random as fr


def _filled(transitions, capacity=64, n=40, **kw):
    buf = fb.prioritized(capacity, **kw)
    return buf, buf.add(buf.init(transitions(1)[0]), transitions(n))


def test_new_items_get_the_max_priority(transitions):
    buf, state = _filled(transitions, alpha=1.0, eps=0.0)
    leaves = state.sum_tree[:40]
    assert torch.equal(leaves, torch.ones(40, dtype=torch.float64))  # initial max priority is 1
    state = buf.update_priorities(state, torch.tensor([0, 1]), torch.tensor([5.0, -7.0]))
    state = buf.add(state, transitions(3, seed=1))
    assert state.sum_tree[40:43].tolist() == [7.0, 7.0, 7.0]  # |-7| is the largest so far
    assert state.sum_tree[43:64].sum() == 0


def test_a_wrapping_add_keeps_the_tree_exact(transitions):
    # Capacity 257 is not a multiple of the tree's K**level: an add that wraps past the last row
    # touches one more parent per level than a run from the cursor of n // K**level + 2 nodes covers.
    buf = fb.prioritized(257, alpha=1.0, eps=0.0, arity=2)
    state = buf.add(buf.init(transitions(1)[0]), transitions(11))
    state = buf.update_priorities(state, torch.arange(11), torch.arange(1.0, 12.0))  # max priority 11
    state = buf.add(state, transitions(247, seed=1))  # rows 11 .. 256, then row 0
    leaves = state.sum_tree[:257]
    assert leaves[0] == 11.0 and leaves[1] == 2.0
    root = state.sum_tree[-1]
    assert root.item() == pytest.approx(leaves.sum().item(), rel=1e-15)
    assert state.min_tree[-1].item() == leaves.min().item()


def test_sampling_is_proportional_to_priority_alpha(transitions, chi2_crit):
    alpha, eps = 0.7, 1e-3
    buf, state = _filled(transitions, capacity=64, n=30, alpha=alpha, eps=eps)
    g = torch.Generator().manual_seed(0)
    priority = torch.rand(30, generator=g) * 5
    priority[::7] = 0.0  # zero TD error still has probability eps ** alpha
    state = buf.update_priorities(state, torch.arange(30), priority)
    p = (priority.double().abs() + eps) ** alpha
    probs = p / p.sum()
    counts = torch.zeros(64, dtype=torch.float64)
    for i in range(50):
        _, info = buf.sample(state, fr.key(i), 1000)
        counts += torch.bincount(info["index"], minlength=64).double()
    assert counts[30:].sum() == 0, "sampled an empty row"
    expected = probs * counts.sum()
    chi2 = ((counts[:30] - expected) ** 2 / expected).sum().item()
    assert chi2 < chi2_crit(29), chi2


def test_importance_weights_equal_the_formula(transitions):
    alpha, beta, eps = 0.6, 0.4, 1e-6
    buf, state = _filled(transitions, capacity=50, n=37, alpha=alpha, beta=beta, eps=eps)
    priority = torch.linspace(0.1, 3.0, 37)
    state = buf.update_priorities(state, torch.arange(37), priority)
    _, info = buf.sample(state, fr.key(0), 64)
    # Independent float64 computation of w_i = (N P(i))^-beta / max_j (N P(j))^-beta.
    p = (priority.double() + eps) ** alpha
    P = p / p.sum()
    w_all = (37 * P) ** -beta
    w = w_all[info["index"]] / w_all.max()
    torch.testing.assert_close(info["weight"], w.float())
    torch.testing.assert_close(info["probability"], P[info["index"]])
    # beta can be annealed per call.
    _, info1 = buf.sample(state, fr.key(0), 64, 1.0)
    torch.testing.assert_close(info1["weight"], (P[info1["index"]] / P.min()).pow(-1.0).float())


def test_duplicate_indices_last_write_wins(transitions):
    buf, state = _filled(transitions, alpha=1.0, eps=0.0)
    state = buf.update_priorities(state, torch.tensor([3, 5, 3, 3, 5]), torch.tensor([1.0, 2.0, 3.0, 4.0, 6.0]))
    assert state.sum_tree[3].item() == 4.0 and state.sum_tree[5].item() == 6.0


def test_update_checks_arguments(transitions):
    buf, state = _filled(transitions)
    with pytest.raises(ValueError, match="frl.buffers.prioritized.update_priorities: priority has shape"):
        buf.update_priorities(state, torch.tensor([1, 2]), torch.ones(3))
    with pytest.raises(TypeError, match="index has dtype int32"):
        buf.update_priorities(state, torch.tensor([1, 2], dtype=torch.int32), torch.ones(2))
    with pytest.raises(RuntimeError, match="index has values outside"):
        buf.update_priorities(state, torch.tensor([1, 45]), torch.ones(2))  # row 45 holds no item


def test_stratified_and_never_empty(transitions):
    buf, state = _filled(transitions, capacity=1000, n=300)
    _, info = buf.sample(state, fr.key(5), 30)
    # Stratified: draw b comes from the b-th tenth of the (here uniform) mass.
    assert torch.equal(info["index"] // 10, torch.arange(30))


def _fresh(state):
    # update_priorities and add write the trees in place; three_ways runs each function several
    # times on the same inputs, so each run starts from its own copy.
    return frl.tree.tree_map(torch.clone, state)


def _step(buf, state, key, priority):
    state = _fresh(state)
    batch, info = buf.sample(state, key, 8)
    state = buf.update_priorities(state, info["index"], priority)
    return state, batch, info


def test_three_ways_sample_and_update(three_ways, transitions):
    buf = fb.prioritized(32, alpha=0.6, beta=0.4)
    args = []
    for seed in (1, 2):
        state = buf.add(buf.init(transitions(1)[0]), transitions(20, seed=seed))
        g = torch.Generator().manual_seed(seed)
        args.append((state, fr.key(seed), torch.rand(8, generator=g) + 0.1))
    three_ways(lambda s, k, p: _step(buf, s, k, p), *args)


def test_three_ways_add(three_ways, transitions):
    buf = fb.prioritized(16)
    args = []
    for seed in (1, 2):
        state = buf.add(buf.init(transitions(1)[0]), transitions(12, seed=seed))
        state = buf.update_priorities(state, torch.arange(4), torch.full((4,), 3.0 * seed))
        args.append((state, transitions(9, seed=seed + 5)))  # wraps around
    three_ways(lambda s, b: buf.add(_fresh(s), b), *args)


def test_importing_frl_buffers_does_not_load_the_triton_op():
    import subprocess
    import sys

    code = "import sys, frl.buffers; assert 'frl_triton.sumtree.op' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
