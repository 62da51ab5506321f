"""Uniform replay: a ring buffer sampled uniformly with replacement.

In flashbax's shape: `init`, `add`, `sample` and `can_sample` are module-level pure functions over a
`BufferState`, each readable and testable alone; the factory `uniform` checks its settings once and
binds them (``capacity``) with functools.partial.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl.buffers import _storage
from frl.buffers._common import as_key, check_capacity, check_not_empty
from frl.buffers._states import BufferState

__all__ = ["BufferState", "UniformBuffer", "uniform", "init", "add", "sample", "can_sample"]

_FN = "frl.buffers.uniform"


class UniformBuffer(NamedTuple):
    """The pure functions of a uniform buffer (see `uniform`)."""

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable
    capacity: int


def init(example: TensorDictBase, device=None, path=None, *, capacity: int) -> BufferState:
    """An empty buffer of ``capacity`` items laid out like ``example`` (see `uniform`)."""
    storage = _storage.allocate(example, capacity, device, lazy=path is not None)
    zero = torch.zeros((), dtype=torch.int64, device=storage.device)
    return _storage.finish(BufferState(storage, zero, zero.clone()), path)


def add(state: BufferState, batch: TensorDictBase, *, capacity: int) -> BufferState:
    """Append the rows of ``batch`` [*B], in place (see `uniform`)."""
    _storage.check_batch(f"{_FN}.add", state.storage, batch)
    # The newest `capacity` rows at most (older ones would be overwritten at once), written at the
    # cursor with wrap-around (see _storage.write).
    _, cursor, size = _storage.write(state.storage, state.cursor, state.size, _storage.rows(batch, capacity),
                                     capacity)
    return BufferState(state.storage, cursor, size)


def sample(state: BufferState, key, batch_size: int, *, capacity: int) -> tuple[TensorDict, TensorDict]:
    """``batch_size`` stored rows drawn uniformly with replacement (see `uniform`)."""
    fn = f"{_FN}.sample"
    key = as_key(fn, key, state.cursor.device)
    size = check_not_empty(fn, state.size, state.size, capacity)
    # Rows 0 .. size-1 are exactly the stored items: the ring fills from row 0 and, once full,
    # every row is in use. (The clamp keeps randint's range valid when value checks are switched off.)
    index = fr.randint(key, (batch_size,), 0, torch.clamp(size, min=1))
    info = TensorDict({"index": index}, batch_size=[batch_size], device=state.storage.device)
    return _storage.gather(state.storage, index), info


def can_sample(state: BufferState, batch_size: int) -> torch.Tensor:
    """Whether the buffer holds at least ``batch_size`` items: bool []."""
    return state.size >= batch_size


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
          (or an int seed). Sampling an empty buffer raises RuntimeError (a value check: see
          `frl.set_value_checks`).
        * ``can_sample(state, batch_size) -> bool tensor []``: whether ``size >= batch_size``.

    Example:
        >>> buf = frl.buffers.uniform(capacity=1000)
        >>> state = buf.init(transition)
        >>> state = buf.add(state, rollout)           # rollout: [n_envs, T]
        >>> batch, info = buf.sample(state, key, 256)

    References:
        Lin, "Self-improving reactive agents based on reinforcement learning, planning and teaching", 1992.
    """
    check_capacity(_FN, capacity)
    return UniformBuffer(
        init=functools.partial(init, capacity=capacity),
        add=functools.partial(add, capacity=capacity),
        sample=functools.partial(sample, capacity=capacity),
        can_sample=can_sample,
        capacity=capacity,
    )
