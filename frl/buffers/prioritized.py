"""Prioritized replay (Schaul et al., 2016): proportional sampling from a float64 K-ary sum tree."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

import frl.random as frandom
from frl._checks import check_dtype, check_shape, check_values, fail
from frl.buffers import _storage, _tree
from frl.buffers.uniform import _check_capacity

__all__ = ["PrioritizedState", "PrioritizedBuffer", "prioritized"]


class PrioritizedState(NamedTuple):
    """State of a prioritized buffer.

    Attributes:
        storage: TensorDict [capacity, ...]: the items.
        cursor: int64 []: the row the next item goes to.
        size: int64 []: the number of items stored.
        sum_tree: float64 [nodes]: K-ary sum tree over the stored priorities ``(|p| + eps) ** alpha``.
        min_tree: float64 [nodes]: the matching min tree (for the importance-weight normalization).
        max_priority: float64 []: the largest stored priority so far; new items get it.
    """

    storage: TensorDictBase
    cursor: torch.Tensor
    size: torch.Tensor
    sum_tree: torch.Tensor
    min_tree: torch.Tensor
    max_priority: torch.Tensor


class PrioritizedBuffer(NamedTuple):
    """The pure functions of a prioritized buffer (see `prioritized`)."""

    init: Callable
    add: Callable
    sample: Callable
    update_priorities: Callable
    can_sample: Callable
    capacity: int


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
          ``"probability"`` (float64 [batch_size], P(i)).
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
    fn = "frl.buffers.prioritized"
    _check_capacity(fn, capacity)
    if not alpha >= 0:
        fail(fn, f"alpha must be >= 0, got {alpha}")
    if not beta >= 0:
        fail(fn, f"beta must be >= 0, got {beta}")
    if not eps >= 0:
        fail(fn, f"eps must be >= 0, got {eps}")
    lay = _tree.layout(capacity, arity)

    def init(example: TensorDictBase, device=None, path=None) -> PrioritizedState:
        lazy = path is not None
        storage = _storage.allocate(example, capacity, device, lazy=lazy)
        dev = storage.device
        zero = torch.zeros((), dtype=torch.int64, device=dev)
        sum_tree = _storage.full((lay.num_nodes,), 0.0, torch.float64, dev, lazy)
        min_tree = _storage.full((lay.num_nodes,), float("inf"), torch.float64, dev, lazy)
        state = PrioritizedState(storage, zero, zero.clone(), sum_tree, min_tree,
                                 torch.ones((), dtype=torch.float64, device=dev))
        return _storage.finish(state, path)

    def add(state: PrioritizedState, batch: TensorDictBase) -> PrioritizedState:
        _storage.check_batch(f"{fn}.add", state.storage, batch)
        rows = _storage.rows(batch, capacity)
        index, cursor, size = _storage.write(state.storage, state.cursor, state.size, rows, capacity)
        _tree.update_range(lay, state.sum_tree, state.min_tree, state.cursor, index.shape[0],
                           state.max_priority.expand(index.shape))
        return state._replace(cursor=cursor, size=size)

    default_beta = beta

    def sample(state: PrioritizedState, key, batch_size: int, beta: float | torch.Tensor | None = None):
        key = _storage.as_key(f"{fn}.sample", key, state.cursor.device)
        b = default_beta if beta is None else beta
        root = _tree.total(lay, state.sum_tree)
        # Stratified draws: u_b uniform in [b, b + 1) / batch_size of the total mass.
        strata = torch.arange(batch_size, dtype=torch.float64, device=root.device)
        u = (strata + frandom.uniform(key, (batch_size,), torch.float64)) * (root / batch_size)
        index = _tree.sample(lay, state.sum_tree, u)
        p = state.sum_tree.index_select(0, index)
        probability = p / root
        # (N P(i))^-beta / max_j (N P(j))^-beta = (p_i / min_j p_j)^-beta: N and the total cancel.
        weight = (p / _tree.minimum(lay, state.min_tree)).pow(-torch.as_tensor(b, dtype=torch.float64))
        info = TensorDict({"index": index, "weight": weight.to(torch.float32), "probability": probability},
                          batch_size=[batch_size], device=state.storage.device)
        return _storage.gather(state.storage, index), info

    def update_priorities(state: PrioritizedState, index: torch.Tensor, priority: torch.Tensor) -> PrioritizedState:
        name = f"{fn}.update_priorities"
        check_dtype(name, "index", index, (torch.int64,))
        check_shape(name, "index", index, (None,))
        check_shape(name, "priority", priority, tuple(index.shape))
        index = check_values(name, "index", index, (index >= 0) & (index < state.size), "[0, size)")
        p = (priority.detach().abs().to(torch.float64) + eps).pow(alpha)
        p = check_values(name, "priority", p, torch.isfinite(p), "finite numbers")
        _tree.update(lay, state.sum_tree, state.min_tree, index, p)
        return state._replace(max_priority=torch.maximum(state.max_priority, p.max()))

    def can_sample(state: PrioritizedState, batch_size: int) -> torch.Tensor:
        return state.size >= batch_size

    return PrioritizedBuffer(init, add, sample, update_priorities, can_sample, capacity)
