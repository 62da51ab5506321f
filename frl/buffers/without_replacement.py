"""Sampling without replacement: every stored item once per epoch, in a random order."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

import frl.random as frandom
from frl.buffers import _storage
from frl.buffers.uniform import _check_capacity

__all__ = ["EpochState", "EpochBuffer", "without_replacement"]


class EpochState(NamedTuple):
    """State of a without-replacement buffer.

    Attributes:
        storage, cursor, size: as in `frl.buffers.BufferState`.
        order: int64 [capacity]: this epoch's permutation; its first ``epoch_size`` entries are the
            rows stored when the epoch began, in the order they are served.
        position: int64 []: how many entries of ``order`` this epoch has served.
        epoch_size: int64 []: the number of items in this epoch.
    """

    storage: TensorDictBase
    cursor: torch.Tensor
    size: torch.Tensor
    order: torch.Tensor
    position: torch.Tensor
    epoch_size: torch.Tensor


class EpochBuffer(NamedTuple):
    """The pure functions of a without-replacement buffer (see `without_replacement`)."""

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable
    capacity: int


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
        ``can_sample``. ``key`` seeds the permutation when a sample starts a new epoch.

    Example:
        >>> buf = frl.buffers.without_replacement(capacity=4096)
        >>> state = buf.add(buf.init(transition), rollout)
        >>> for k in frl.random.split(key, 16):
        ...     batch, info, state = buf.sample(state, k, 256)

    References:
        The minibatch epochs of PPO: Schulman et al., "Proximal Policy Optimization Algorithms", 2017.
    """
    _check_capacity("frl.buffers.without_replacement", capacity)

    def init(example: TensorDictBase, device=None, path=None) -> EpochState:
        storage = _storage.allocate(example, capacity, device, lazy=path is not None)
        zero = torch.zeros((), dtype=torch.int64, device=storage.device)
        order = torch.arange(capacity, device=storage.device)
        return _storage.finish(EpochState(storage, zero, zero.clone(), order, zero.clone(), zero.clone()), path)

    def add(state: EpochState, batch: TensorDictBase) -> EpochState:
        _storage.check_batch("frl.buffers.without_replacement.add", state.storage, batch)
        _, cursor, size = _storage.write(state.storage, state.cursor, state.size,
                                         _storage.rows(batch, capacity), capacity)
        return state._replace(cursor=cursor, size=size)

    def _new_order(key, size, order):
        del order
        # A random permutation of the stored rows 0..size-1 first, empty rows last: random sort keys
        # for the stored rows, +2**62 for the empty ones.
        slots = torch.arange(capacity, device=size.device)
        bits = frandom.bits(key, (capacity,))
        return torch.argsort(torch.where(slots < size, bits, bits + (1 << 62)), stable=True)

    def _keep_order(key, size, order):
        del key, size
        return order.clone()  # torch.cond's branches may not return their inputs

    def sample(state: EpochState, key, batch_size: int):
        key = _storage.as_key("frl.buffers.without_replacement.sample", key, state.cursor.device)
        left = state.epoch_size - state.position
        new_epoch = (left < batch_size) if drop_last else (left <= 0)
        # Only the epoch boundary pays for a new permutation. Compiled: torch.cond keeps one graph
        # with no host synchronization. Eager vmap: the members may disagree, so both are computed
        # and selected. Plain eager: a Python branch (eager torch.cond would re-enter dynamo on
        # every call, ~1 ms; reading the flag synchronizes once per call on CUDA, in eager only).
        if torch.compiler.is_compiling():
            order = torch.cond(new_epoch, _new_order, _keep_order, (key, state.size, state.order))
        elif torch._C._functorch.is_batchedtensor(new_epoch):
            order = torch.where(new_epoch, _new_order(key, state.size, None), state.order)
        else:
            order = _new_order(key, state.size, None) if bool(new_epoch) else state.order
        position = torch.where(new_epoch, 0, state.position)
        epoch_size = torch.where(new_epoch, state.size, state.epoch_size)
        slot = position + torch.arange(batch_size, device=position.device)
        mask = slot < epoch_size
        # Rows past the end of the epoch repeat the epoch's first entry and are masked out.
        index = order.index_select(0, torch.where(mask, slot, 0).clamp(max=capacity - 1))
        info = TensorDict({"index": index, "mask": mask, "new_epoch": new_epoch.expand(batch_size)},
                          batch_size=[batch_size], device=state.storage.device)
        new_state = state._replace(order=order, position=torch.minimum(position + batch_size, epoch_size),
                                   epoch_size=epoch_size)
        return _storage.gather(state.storage, index), info, new_state

    def can_sample(state: EpochState, batch_size: int) -> torch.Tensor:
        return state.size >= (batch_size if drop_last else 1)

    return EpochBuffer(init, add, sample, can_sample, capacity)
