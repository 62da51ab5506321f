"""Prioritized replay (Schaul et al., 2016): proportional sampling from a float64 K-ary sum tree.

In flashbax's shape: `init`, `add`, `sample`, `update_priorities` and `can_sample` are module-level
pure functions over a `PrioritizedState`; the factory `prioritized` checks its settings once and
binds them (capacity, the tree layout, alpha, beta, eps) with functools.partial.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import check_dtype, check_shape, check_values, fail
from frl.buffers import _storage, _tree
from frl.buffers._common import as_key, check_capacity, check_not_empty
from frl.buffers._states import PrioritizedState

__all__ = ["PrioritizedState", "PrioritizedBuffer", "prioritized", "init", "add", "sample", "update_priorities",
           "can_sample"]

_FN = "frl.buffers.prioritized"


class PrioritizedBuffer(NamedTuple):
    """The pure functions of a prioritized buffer (see `prioritized`)."""

    init: Callable
    add: Callable
    sample: Callable
    update_priorities: Callable
    can_sample: Callable
    capacity: int


def init(example: TensorDictBase, device=None, path=None, *, lay: _tree.Layout) -> PrioritizedState:
    """An empty buffer of ``lay.capacity`` items laid out like ``example``: empty trees, max priority 1."""
    lazy = path is not None
    storage = _storage.allocate(example, lay.capacity, device, lazy=lazy)
    dev = storage.device
    zero = torch.zeros((), dtype=torch.int64, device=dev)
    sum_tree = _storage.full((lay.num_nodes,), 0.0, torch.float64, dev, lazy)
    min_tree = _storage.full((lay.num_nodes,), float("inf"), torch.float64, dev, lazy)
    state = PrioritizedState(storage, zero, zero.clone(), sum_tree, min_tree,
                             torch.ones((), dtype=torch.float64, device=dev))
    return _storage.finish(state, path)


def add(state: PrioritizedState, batch: TensorDictBase, *, lay: _tree.Layout) -> PrioritizedState:
    """Append the rows of ``batch`` [*B] with the current maximum priority; storage and trees in place."""
    _storage.check_batch(f"{_FN}.add", state.storage, batch)
    rows = _storage.rows(batch, lay.capacity)
    index, cursor, size = _storage.write(state.storage, state.cursor, state.size, rows, lay.capacity)
    # The rows just written are the ring run state.cursor .. state.cursor + n - 1 (mod capacity):
    # the same leaves of the tree, written as one range.
    _tree.update_range(lay, state.sum_tree, state.min_tree, state.cursor, index.shape[0],
                       state.max_priority.expand(index.shape))
    return state._replace(cursor=cursor, size=size)


def sample(state: PrioritizedState, key, batch_size: int, beta: float | torch.Tensor | None = None, *,
           lay: _tree.Layout, default_beta: float) -> tuple[TensorDict, TensorDict]:
    """``batch_size`` rows drawn in proportion to their priority, with importance weights (see `prioritized`)."""
    fn = f"{_FN}.sample"
    key = as_key(fn, key, state.cursor.device)
    b = default_beta if beta is None else beta
    # An empty tree has no leaf to find: its search would walk off the stored leaves.
    root = check_not_empty(fn, _tree.total(lay, state.sum_tree), state.size, lay.capacity)
    # Stratified draws: u_b uniform in [b, b + 1) / batch_size of the total mass.
    strata = torch.arange(batch_size, dtype=torch.float64, device=root.device)
    u = (strata + fr.uniform(key, (batch_size,), torch.float64)) * (root / batch_size)
    index = _tree.sample(lay, state.sum_tree, u)
    p = state.sum_tree.index_select(0, index)
    probability = p / root
    # (N P(i))^-beta / max_j (N P(j))^-beta = (p_i / min_j p_j)^-beta: N and the total cancel.
    weight = (p / _tree.minimum(lay, state.min_tree)).pow(-torch.as_tensor(b, dtype=torch.float64))
    info = TensorDict({"index": index, "weight": weight.to(torch.float32), "probability": probability},
                      batch_size=[batch_size], device=state.storage.device)
    return _storage.gather(state.storage, index), info


def update_priorities(state: PrioritizedState, index: torch.Tensor, priority: torch.Tensor, *,
                      lay: _tree.Layout, alpha: float, eps: float) -> PrioritizedState:
    """Set the priorities of rows ``index`` [B] to ``(|priority| + eps) ** alpha``; the trees in place."""
    fn = f"{_FN}.update_priorities"
    check_dtype(fn, "index", index, (torch.int64,))
    check_shape(fn, "index", index, (None,))
    check_shape(fn, "priority", priority, tuple(index.shape))
    index = check_values(fn, "index", index, (index >= 0) & (index < state.size), "[0, size)")
    p = (priority.detach().abs().to(torch.float64) + eps).pow(alpha)
    p = check_values(fn, "priority", p, torch.isfinite(p), "finite numbers")
    _tree.update(lay, state.sum_tree, state.min_tree, index, p)
    return state._replace(max_priority=torch.maximum(state.max_priority, p.max()))


def can_sample(state: PrioritizedState, batch_size: int) -> torch.Tensor:
    """Whether the buffer holds at least ``batch_size`` items: bool []."""
    return state.size >= batch_size


def prioritized(capacity: int, alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6,
                arity: int = 32) -> PrioritizedBuffer:
    """A ring buffer sampled in proportion to ``priority ** alpha``, with importance weights.

    Item ``i`` is drawn with probability ``P(i) = p_i / sum_j p_j`` where ``p_i = (|priority_i| + eps)
    ** alpha``; a batch is *stratified*: draw ``b`` falls in the ``b``-th of ``batch_size`` equal
    slices of the total mass. Importance weights are ``w_i = (N * P(i)) ** -beta / max_j w_j`` over
    the ``N`` stored items, which simplifies to ``(p_i / min_j p_j) ** -beta``.

    Args:
        capacity: the number of items kept; older items are overwritten first.
        alpha: priority exponent (0: uniform, 1: fully proportional).
        beta: default importance-weight exponent; `sample` takes a ``beta`` to anneal it.
        eps: added to ``|priority|`` so that no stored item has zero probability.
        arity: children per sum-tree node (32: five levels for a million items).

    Returns:
        A `PrioritizedBuffer` of pure functions:

        * ``init(example, device=None, path=None) -> PrioritizedState`` (as in `uniform`).
        * ``add(state, batch) -> PrioritizedState``: append rows; they get the current maximum
          priority. **Writes storage and trees in place**: treat the old state as consumed.
        * ``sample(state, key, batch_size, beta=None) -> (batch, info)``: ``info`` holds ``"index"``
          (int64 [batch_size]), ``"weight"`` (float32 [batch_size], importance weights) and
          ``"probability"`` (float64 [batch_size], P(i)). Sampling an empty buffer raises
          RuntimeError (a value check: see `frl.set_value_checks`).
        * ``update_priorities(state, index, priority) -> PrioritizedState``: set the priorities of
          rows ``index`` [B] (e.g. ``info["index"]``) to ``priority`` [B] (e.g. TD errors; the absolute
          value is taken); with duplicate indices the last one wins. **Updates the trees in place.**
        * ``can_sample(state, batch_size) -> bool tensor []``.

        All of them run eagerly, under torch.func.vmap (an ensemble of buffers) and inside one
        torch.compile(fullgraph=True) graph: a compiled DQN step can sample and update priorities.

    Example:
        >>> buf = frl.buffers.prioritized(capacity=100_000, alpha=0.6, beta=0.4)
        >>> state = buf.add(buf.init(transition), rollout)
        >>> batch, info = buf.sample(state, key, 256)
        >>> loss = (info["weight"] * td_error ** 2).mean()
        >>> state = buf.update_priorities(state, info["index"], td_error.detach())

    References:
        Schaul, Quan, Antonoglou, Silver, "Prioritized Experience Replay", ICLR 2016.
    """
    check_capacity(_FN, capacity)
    if not alpha >= 0:
        fail(_FN, f"alpha must be >= 0, got {alpha}")
    if not beta >= 0:
        fail(_FN, f"beta must be >= 0, got {beta}")
    if not eps >= 0:
        fail(_FN, f"eps must be >= 0, got {eps}")
    lay = _tree.layout(capacity, arity)
    return PrioritizedBuffer(
        init=functools.partial(init, lay=lay),
        add=functools.partial(add, lay=lay),
        sample=functools.partial(sample, lay=lay, default_beta=beta),
        update_priorities=functools.partial(update_priorities, lay=lay, alpha=alpha, eps=eps),
        can_sample=can_sample,
        capacity=capacity,
    )
