"""Sampling without replacement: every stored item once per epoch, in a random order.

In flashbax's shape: `init`, `add`, `sample` and `can_sample` are module-level pure functions over an
`EpochState`; the factory `without_replacement` checks its settings once and binds them (capacity,
drop_last) with functools.partial.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._compat import is_batched_tensor
from frl.buffers import _storage
from frl.buffers._common import as_key, check_capacity, check_not_empty
from frl.buffers._states import EpochState

__all__ = ["EpochState", "EpochBuffer", "without_replacement", "init", "add", "sample", "can_sample"]

_FN = "frl.buffers.without_replacement"


class EpochBuffer(NamedTuple):
    """The pure functions of a without-replacement buffer (see `without_replacement`)."""

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable
    capacity: int


def init(example: TensorDictBase, device=None, path=None, *, capacity: int) -> EpochState:
    """An empty buffer of ``capacity`` items laid out like ``example``, with no epoch begun."""
    storage = _storage.allocate(example, capacity, device, lazy=path is not None)
    zero = torch.zeros((), dtype=torch.int64, device=storage.device)
    order = torch.arange(capacity, device=storage.device)
    return _storage.finish(EpochState(storage, zero, zero.clone(), order, zero.clone(), zero.clone()), path)


def add(state: EpochState, batch: TensorDictBase, *, capacity: int) -> EpochState:
    """Append the rows of ``batch`` [*B], in place (as in `frl.buffers.uniform`)."""
    _storage.check_batch(f"{_FN}.add", state.storage, batch)
    # The newest `capacity` rows at most, written at the cursor with wrap-around (see _storage.write).
    _, cursor, size = _storage.write(state.storage, state.cursor, state.size, _storage.rows(batch, capacity),
                                     capacity)
    return state._replace(cursor=cursor, size=size)


def new_order(key: torch.Tensor, size: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """A new permutation like ``order`` [capacity]: the stored rows 0..size-1 first, in random order."""
    capacity = order.shape[0]
    # Random sort keys for the stored rows, +2**62 for the empty ones (stable: the empty rows keep
    # their order, and never come before a stored one).
    slots = torch.arange(capacity, device=size.device)
    bits = fr.bits(key, (capacity,))
    return torch.argsort(torch.where(slots < size, bits, bits + (1 << 62)), stable=True)


def keep_order(key: torch.Tensor, size: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The current permutation (the other branch of torch.cond)."""
    del key, size
    return order.clone()  # torch.cond's branches may not return their inputs


def sample(state: EpochState, key, batch_size: int, *, capacity: int,
           drop_last: bool) -> tuple[TensorDict, TensorDict, EpochState]:
    """The next ``batch_size`` rows of this epoch's permutation (see `without_replacement`)."""
    fn = f"{_FN}.sample"
    key = as_key(fn, key, state.cursor.device)
    # An empty buffer has no epoch to serve: every row would be padding.
    size = check_not_empty(fn, state.size, state.size, capacity)
    left = state.epoch_size - state.position
    new_epoch = (left < batch_size) if drop_last else (left <= 0)
    # Only the epoch boundary pays for a new permutation. Compiled: torch.cond keeps one graph
    # with no host synchronization. Eager vmap: the members may disagree, so both are computed
    # and selected. Plain eager: a Python branch (eager torch.cond would re-enter dynamo on
    # every call, ~1 ms; reading the flag synchronizes once per call on CUDA, in eager only).
    if torch.compiler.is_compiling():
        order = torch.cond(new_epoch, new_order, keep_order, (key, size, state.order))
    elif is_batched_tensor(new_epoch):
        order = torch.where(new_epoch, new_order(key, size, state.order), state.order)
    else:
        order = new_order(key, size, state.order) if bool(new_epoch) else state.order
    position = torch.where(new_epoch, 0, state.position)
    epoch_size = torch.where(new_epoch, size, state.epoch_size)
    # Slots position .. position + batch_size - 1 of the permutation; those at or past the epoch's
    # end are padding.
    slot = position + torch.arange(batch_size, device=position.device)
    mask = slot < epoch_size
    # Padding rows repeat the permutation's first entry (slot 0) and are masked out; the clamp keeps
    # the index inside the permutation.
    index = order.index_select(0, torch.where(mask, slot, 0).clamp(max=capacity - 1))
    info = TensorDict({"index": index, "mask": mask, "new_epoch": new_epoch.expand(batch_size)},
                      batch_size=[batch_size], device=state.storage.device)
    new_state = state._replace(order=order, position=torch.minimum(position + batch_size, epoch_size),
                               epoch_size=epoch_size)
    return _storage.gather(state.storage, index), info, new_state


def can_sample(state: EpochState, batch_size: int, *, drop_last: bool) -> torch.Tensor:
    """Whether `sample` can serve a batch: ``batch_size`` items with drop_last, else one: bool []."""
    return state.size >= (batch_size if drop_last else 1)


def without_replacement(capacity: int, drop_last: bool = False) -> EpochBuffer:
    """A ring buffer whose sampler serves each stored item exactly once per epoch, in random order.

    An epoch begins at the first `sample` and whenever the previous one is used up; it covers the
    items stored at that moment (items added during an epoch wait for the next one). The epoch's
    permutation and position live in the state, so `sample` returns the new state.

    Args:
        capacity: the number of items kept.
        drop_last: what to do when fewer than ``batch_size`` items are left in the epoch: drop them
            and start a new epoch (True), or return them as a last, partial batch (False). Shapes stay
            static, so a partial batch is padded (with repeats of a served row) and ``info["mask"]``
            marks its real rows.

    Returns:
        An `EpochBuffer` of pure functions: ``init``, ``add`` (as in `uniform`; in place),
        ``sample(state, key, batch_size) -> (batch, info, state)`` with ``info["index"]``,
        ``info["mask"]`` (bool) and ``info["new_epoch"]`` (bool, [batch_size], all equal), and
        ``can_sample``. ``key`` seeds the permutation when a sample starts a new epoch. Sampling an
        empty buffer raises RuntimeError (a value check: see `frl.set_value_checks`).

    Example:
        >>> buf = frl.buffers.without_replacement(capacity=4096)
        >>> state = buf.add(buf.init(transition), rollout)
        >>> for k in frl.random.split(key, 16):
        ...     batch, info, state = buf.sample(state, k, 256)

    References:
        The minibatch epochs of PPO: Schulman et al., "Proximal Policy Optimization Algorithms", 2017.
    """
    check_capacity(_FN, capacity)
    return EpochBuffer(
        init=functools.partial(init, capacity=capacity),
        add=functools.partial(add, capacity=capacity),
        sample=functools.partial(sample, capacity=capacity, drop_last=drop_last),
        can_sample=functools.partial(can_sample, drop_last=drop_last),
        capacity=capacity,
    )
