"""Uniform replay: a ring buffer sampled uniformly with replacement."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

import frl.random as frandom
from frl._checks import fail
from frl.buffers import _storage

__all__ = ["BufferState", "UniformBuffer", "uniform"]


class BufferState(NamedTuple):
    """State of a uniform buffer.

    Attributes:
        storage: TensorDict [capacity, ...]: the items; rows >= size are zeros.
        cursor: int64 []: the row the next item goes to.
        size: int64 []: the number of items stored (at most capacity).
    """

    storage: TensorDictBase
    cursor: torch.Tensor
    size: torch.Tensor


class UniformBuffer(NamedTuple):
    """The pure functions of a uniform buffer (see `uniform`)."""

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable
    capacity: int


def _check_capacity(fn: str, capacity: int) -> int:
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        fail(fn, f"capacity must be a positive int, got {capacity!r}")
    return capacity


def uniform(capacity: int) -> UniformBuffer:
    """A ring buffer of ``capacity`` items, sampled uniformly with replacement.

    Args:
        capacity: the number of items kept; older items are overwritten first.

    Returns:
        A `UniformBuffer` of pure functions:

        * ``init(example, device=None, path=None) -> BufferState``: ``example`` is a TensorDict whose
          *leaves after its batch dimensions* give the layout of one item: pass one transition (batch
          size ``[]``) or any batch of them (e.g. a ``[n_envs]`` step or a ``[n_envs, T]`` rollout).
          With ``path``, the state is created as memory-mapped files in that new directory (never
          materialized in RAM): see `frl.buffers.load` and `frl.buffers.save`.
        * ``add(state, batch) -> BufferState``: append the rows of ``batch`` [*B] (flattened), wrapping
          around at capacity. **Writes the storage in place** and returns the state holding it: treat
          the old state as consumed (its cursor and size are stale).
        * ``sample(state, key, batch_size) -> (batch, info)``: ``batch`` [batch_size] and
          ``info["index"]`` [batch_size], int64 rows of the storage. ``key`` is an frl.random key
          (or an int seed).
        * ``can_sample(state, batch_size) -> bool tensor []``: whether ``size >= batch_size``.

    Example:
        >>> buf = frl.buffers.uniform(capacity=1000)
        >>> state = buf.init(transition)
        >>> state = buf.add(state, rollout)           # rollout: [n_envs, T]
        >>> batch, info = buf.sample(state, key, 256)

    References:
        Lin, "Self-improving reactive agents based on reinforcement learning, planning and teaching", 1992.
    """
    _check_capacity("frl.buffers.uniform", capacity)

    def init(example: TensorDictBase, device=None, path=None) -> BufferState:
        storage = _storage.allocate(example, capacity, device, lazy=path is not None)
        zero = torch.zeros((), dtype=torch.int64, device=storage.device)
        return _storage.finish(BufferState(storage, zero, zero.clone()), path)

    def add(state: BufferState, batch: TensorDictBase) -> BufferState:
        _storage.check_batch("frl.buffers.uniform.add", state.storage, batch)
        _, cursor, size = _storage.write(state.storage, state.cursor, state.size,
                                         _storage.rows(batch, capacity), capacity)
        return BufferState(state.storage, cursor, size)

    def sample(state: BufferState, key, batch_size: int):
        key = _storage.as_key("frl.buffers.uniform.sample", key, state.cursor.device)
        # Rows 0 .. size-1 are exactly the stored items: the ring fills from row 0 and, once full,
        # every row is in use.
        index = frandom.randint(key, (batch_size,), 0, torch.clamp(state.size, min=1))
        info = TensorDict({"index": index}, batch_size=[batch_size], device=state.storage.device)
        return _storage.gather(state.storage, index), info

    def can_sample(state: BufferState, batch_size: int) -> torch.Tensor:
        return state.size >= batch_size

    return UniformBuffer(init, add, sample, can_sample, capacity)
