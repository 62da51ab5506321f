"""frl.tree: stacking ensembles of TensorDicts and NamedTuples, and splitting them back."""

from typing import NamedTuple

import torch
from tensordict import TensorDict

import frl


class State(NamedTuple):
    count: torch.Tensor
    mu: TensorDict


def member(seed):
    g = torch.Generator().manual_seed(seed)
    return State(torch.tensor(seed),
                 TensorDict(w=torch.randn(3, 2, generator=g), b=TensorDict(x=torch.randn(4, generator=g))))


def test_stack_unstack_roundtrip_keeps_batch_size():
    members = [member(i) for i in range(3)]
    ens = frl.tree.stack(members)
    assert ens.count.shape == (3,)
    assert ens.mu.batch_size == (3,)
    assert ens.mu["w"].shape == (3, 3, 2)
    back = frl.tree.unstack(ens)
    assert len(back) == 3
    for a, b in zip(back, members, strict=True):
        assert frl.tree.tree_allclose(a, b, rtol=0, atol=0)
    assert frl.tree.tree_allclose(frl.tree.index(ens, 1), members[1], rtol=0, atol=0)


def test_vmap_over_stacked_tensordict_matches_loop():
    members = [member(i) for i in range(4)]
    ens = frl.tree.stack(members)
    out = torch.vmap(lambda s: (s.mu["w"].sum() * s.count + s.mu["b", "x"].mean()))(ens)
    expected = torch.stack([m.mu["w"].sum() * m.count + m.mu["b", "x"].mean() for m in members])
    torch.testing.assert_close(out, expected)


def test_tree_map_and_allclose():
    a = member(0)
    b = frl.tree.tree_map(lambda x: x + 1, a)
    assert not frl.tree.tree_allclose(a, b)
    assert frl.tree.tree_allclose(frl.tree.tree_map(lambda x: x - 1, b), a)
    assert len(frl.tree.tree_leaves(a)) == 3


def test_dense_makes_broadcast_leaves_contiguous():
    # vmap broadcasts outputs that do not depend on the mapped input: stride 0 along the new dim
    ens = torch.vmap(lambda k: State(torch.tensor(5), TensorDict(w=torch.ones(2), b=TensorDict(x=torch.zeros(1)))))(
        torch.arange(3))
    assert ens.count.stride() == (0,)
    out = frl.tree.dense(ens)
    assert out.count.stride() == (1,) and frl.tree.tree_allclose(out, ens, rtol=0, atol=0)


def test_where_picks_whole_trees_three_ways(three_ways):
    new = TensorDict(a=torch.arange(4.0), b={"c": torch.ones(2, 3)})
    old = TensorDict(a=-torch.arange(4.0), b={"c": torch.zeros(2, 3)})
    tree = frl.tree
    assert tree.tree_allclose(tree.where(torch.tensor(True), new, old), new)
    assert tree.tree_allclose(tree.where(False, new, old), old)
    # Per leaf torch.where, with the condition broadcast: a mask over the leading dim also works.
    mask = torch.tensor([True, False])
    got = tree.where(mask[:, None], {"x": torch.ones(2, 3)}, {"x": torch.zeros(2, 3)})
    assert got["x"].tolist() == [[1.0] * 3, [0.0] * 3]

    def pick(flag, n, o):
        return tree.where(flag, n, o)

    args = (torch.tensor(True), new, old)
    three_ways(pick, args, (torch.tensor(False), new, old))
