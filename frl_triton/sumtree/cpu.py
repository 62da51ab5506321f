"""Sum tree (with a min tree beside it) in pure torch: the production CPU path.

The tree is K-ary (K = 32 by default) rather than binary, so a tree over a million leaves has only
five levels: an update recomputes four parents and a prefix search takes four steps, each a handful of
vectorized torch ops over a ``[B, K]`` block. That keeps the eager CPU path fast without C++ and gives
torch.compile a short, fusable chain.

Layout: one flat tensor per tree, levels stored bottom-up. Level 0 holds the leaves, so leaf ``i`` is
simply element ``i``; every level is padded to a multiple of K so that the K children of node ``j`` of
level ``l + 1`` are the elements ``offset[l] + j * K + (0..K-1)``. The last level is the root (one node).
Padding and empty leaves hold 0 in the sum tree and +inf in the min tree, so they change neither.

No drift, by construction: an update writes the new leaves and then *recomputes* each touched parent
from its K children (never adds a delta), so every internal node is always exactly the float64 sum of
its children, whatever the history of updates. Duplicate indices in one update are resolved before
writing (the last write wins) and every duplicate writes the same value, so the result does not depend
on the order in which the writes land.

All functions take the tree tensors first and work unchanged under torch.func.vmap (every op has a
batching rule) and torch.compile.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["Layout", "layout", "init", "last_write_values", "update", "update_range", "sample", "total", "minimum",
           "rebuild"]


class Layout(NamedTuple):
    """Static shape of a sum tree: Python ints only, fixed when the buffer is created.

    Attributes:
        capacity: number of leaves in use.
        arity: K, children per node.
        offsets: start of each level in the flat tensor, leaves first, root last.
        sizes: padded size of each level.
    """

    capacity: int
    arity: int
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]

    @property
    def num_nodes(self) -> int:
        return self.offsets[-1] + self.sizes[-1]

    @property
    def root(self) -> int:
        return self.offsets[-1]


def layout(capacity: int, arity: int = 32) -> Layout:
    """The level offsets and sizes of a K-ary tree over ``capacity`` leaves."""
    if capacity < 1 or arity < 2:
        raise ValueError(f"frl_triton.sumtree.layout: need capacity >= 1 and arity >= 2, got {capacity}, {arity}")
    offsets, sizes = [], []
    n, off = capacity, 0
    while True:
        padded = 1 if n == 1 and offsets else -(-n // arity) * arity
        offsets.append(off)
        sizes.append(padded)
        off += padded
        if padded == 1:
            break
        n = padded // arity
    return Layout(capacity, arity, tuple(offsets), tuple(sizes))


def init(lay: Layout, device=None, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """An empty (sum_tree, min_tree) pair: all sums 0, all minima +inf."""
    s = torch.zeros(lay.num_nodes, dtype=dtype, device=device)
    m = torch.full((lay.num_nodes,), float("inf"), dtype=dtype, device=device)
    return s, m


def last_write_values(index: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """For each position, the value of the *last* position in the batch with the same index.

    After this, duplicate indices carry identical values, so a scatter gives the same result in any
    order: "the last write wins", deterministically, without any dynamic shape.
    """
    sorted_index, order = torch.sort(index, stable=True)
    # Within a run of equal indices (kept in batch order by the stable sort), the last member is at
    # searchsorted(..., right=True) - 1.
    last_in_run = torch.searchsorted(sorted_index, sorted_index, right=True) - 1
    winner = order.gather(0, last_in_run)  # batch position of the last write to sorted_index[j]
    # Scatter back from sorted order to batch order: position order[j] takes value[winner[j]].
    winner_by_pos = torch.empty_like(winner).index_put_((order,), winner)
    return value.gather(0, winner_by_pos)


def _level(lay: Layout, tree: torch.Tensor, level: int) -> torch.Tensor:
    # Level ``level`` viewed as [parents, K]: row j holds the K children of node j of level + 1.
    a = lay.offsets[level]
    return tree[..., a: a + lay.sizes[level]].unflatten(-1, (-1, lay.arity))


def update(lay: Layout, sum_tree: torch.Tensor, min_tree: torch.Tensor, index: torch.Tensor,
           value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Set leaves ``index`` [B] to ``value`` [B] **in place** and recompute their ancestors exactly.

    Returns the two (updated) trees, which are the input tensors.
    """
    value = last_write_values(index, value.to(sum_tree.dtype))
    sum_tree.index_put_((index,), value)
    # A zero leaf holds no mass and must not set the minimum used to normalize importance weights.
    min_tree.index_put_((index,), torch.where(value > 0, value, float("inf")))
    node = index
    for level in range(len(lay.offsets) - 1):
        node = torch.div(node, lay.arity, rounding_mode="floor")  # parents, in level ``level + 1``
        # Duplicated parents write identical values: every child of this level has landed already.
        parent = lay.offsets[level + 1] + node
        sum_tree.index_put_((parent,), _level(lay, sum_tree, level).index_select(0, node).sum(-1))
        min_tree.index_put_((parent,), _level(lay, min_tree, level).index_select(0, node).amin(-1))
    return sum_tree, min_tree


def update_range(lay: Layout, sum_tree: torch.Tensor, min_tree: torch.Tensor, start: torch.Tensor, n: int,
                 value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Set the ``n`` consecutive leaves ``start, start + 1, ... (mod capacity)`` to ``value`` [n], in place.

    The ring-buffer write of a whole batch: ``n`` is static and at most capacity, ``start`` a 0-d
    tensor. Faster than `update` for large batches: no duplicate resolution is needed, and each level
    recomputes only the ~n / K**level distinct ancestors instead of n (possibly repeated) ones.
    """
    index = torch.remainder(start + torch.arange(n, device=start.device), lay.capacity)
    value = value.to(sum_tree.dtype)
    sum_tree.index_put_((index,), value)
    min_tree.index_put_((index,), torch.where(value > 0, value, float("inf")))
    span = 1
    for level in range(len(lay.offsets) - 1):
        span *= lay.arity
        # The real parents at this level: the leaves' ancestors lie in [0, n_parents).
        n_parents = -(-lay.capacity // span)
        # The touched ancestors are a run of consecutive parents (mod n_parents, when the write
        # wraps) from start // span. Without a wrap, leaves start .. start + n - 1 have at most
        # (n - 1) // span + 2 parents. With a wrap the run is two pieces, start .. capacity - 1 (a
        # leaves) and 0 .. b - 1 (b = n - a leaves); when capacity is not a multiple of span, the last
        # parent is partial and the two pieces together touch up to (a - 1) // span + 2 + (b - 1) // span
        # + 1 <= n // span + 3 parents (e.g. capacity 257, span 4, start 11, n 247: 64 parents).
        # Recomputing a parent that was not touched is harmless (it is recomputed exactly), so a
        # static-size run that covers them all is used.
        m = min(n // span + 3, n_parents)
        node = torch.remainder(torch.div(start, span, rounding_mode="floor") + torch.arange(m, device=start.device),
                               n_parents)
        parent = lay.offsets[level + 1] + node
        sum_tree.index_put_((parent,), _level(lay, sum_tree, level).index_select(0, node).sum(-1))
        min_tree.index_put_((parent,), _level(lay, min_tree, level).index_select(0, node).amin(-1))
    return sum_tree, min_tree


def sample(lay: Layout, sum_tree: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Prefix search: the leaf ``i`` with ``cumsum[i-1] <= u < cumsum[i]`` for each ``u`` [B] in [0, total).

    Never returns a leaf of zero priority (see the comment in the loop). Returns int64 [B].
    """
    u = u.to(sum_tree.dtype)
    node = torch.zeros(u.shape, dtype=torch.int64, device=u.device)
    zero = torch.zeros_like(u)
    for level in range(len(lay.offsets) - 2, -1, -1):
        kids = _level(lay, sum_tree, level).index_select(0, node)  # [B, K]
        csum = kids.cumsum(-1)
        # Keep u strictly below this node's mass (rounding can put it an ulp above), so that the child
        # found below has csum[j] > u >= csum[j-1]; in floating point csum[j] > csum[j-1] implies
        # kids[j] > 0, hence a zero-priority subtree (or leaf) is never entered.
        u = torch.minimum(u, torch.nextafter(csum[:, -1], zero))
        j = torch.searchsorted(csum, u.unsqueeze(-1), right=True)  # [B, 1]: children with csum <= u
        j = j.clamp(max=lay.arity - 1)  # only reached by an empty tree (total 0), which has no valid leaf
        u = u - (csum - kids).gather(-1, j).squeeze(-1)  # subtract the mass left of child j
        node = node * lay.arity + j.squeeze(-1)
    return node


def total(lay: Layout, sum_tree: torch.Tensor) -> torch.Tensor:
    """The root: the sum of all leaves, 0-d."""
    return sum_tree[lay.root]


def minimum(lay: Layout, min_tree: torch.Tensor) -> torch.Tensor:
    """The smallest leaf written so far (+inf when none), 0-d."""
    return min_tree[lay.root]


def rebuild(lay: Layout, leaves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Build both trees from scratch out of ``leaves`` [capacity] (unwritten leaves: pass 0 and mask)."""
    s, m = init(lay, leaves.device, torch.float64)
    s[: lay.capacity] = leaves
    m[: lay.capacity] = torch.where(leaves > 0, leaves.to(torch.float64), float("inf"))
    for level in range(len(lay.offsets) - 1):
        n_parents = lay.sizes[level] // lay.arity
        a, b = lay.offsets[level], lay.offsets[level] + lay.sizes[level]
        p = lay.offsets[level + 1]
        s[p: p + n_parents] = s[a:b].view(n_parents, lay.arity).sum(-1)
        m[p: p + n_parents] = m[a:b].view(n_parents, lay.arity).amin(-1)
    return s, m
