"""Trajectory (slice) replay: sample [batch, L] sequences of consecutive steps of one stream.

In flashbax's shape: `init`, `add`, `sample` and `can_sample` are module-level pure functions over a
`TrajectoryState`; the factory `trajectory` checks its settings once and binds them (the tree layout,
slice_len, pad, done_key) with functools.partial.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import check_values, fail, fmt_key
from frl.buffers import _storage, _tree
from frl.buffers._common import as_key, check_capacity, check_not_empty
from frl.buffers._states import TrajectoryState

__all__ = ["TrajectoryState", "TrajectoryBuffer", "trajectory", "init", "add", "sample", "can_sample"]

_FN = "frl.buffers.trajectory"


class TrajectoryBuffer(NamedTuple):
    """The pure functions of a trajectory buffer (see `trajectory`)."""

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable
    capacity: int


def init(example: TensorDictBase, device=None, path=None, *, lay: _tree.Layout,
         done_key: str | tuple) -> TrajectoryState:
    """An empty buffer of ``lay.capacity`` items laid out like ``example`` (which must hold ``done_key``)."""
    lazy = path is not None
    capacity = lay.capacity
    storage = _storage.allocate(example, capacity, device, lazy=lazy)
    if done_key not in storage.keys(include_nested=True, leaves_only=True):
        fail(f"{_FN}.init", f"example has no key {fmt_key(done_key)} (the episode-end flag)", KeyError)
    dev = storage.device
    zero = torch.zeros((), dtype=torch.int64, device=dev)
    state = TrajectoryState(
        storage, zero, zero.clone(), _storage.full((capacity,), -1, torch.int64, dev, lazy),
        _storage.full((capacity,), 0, torch.int64, dev, lazy), zero.clone(),
        _storage.full((lay.num_nodes,), 0.0, torch.float64, dev, lazy),
        _storage.full((lay.num_nodes,), float("inf"), torch.float64, dev, lazy))
    return _storage.finish(state, path)


def add(state: TrajectoryState, batch: TensorDictBase, *, lay: _tree.Layout, slice_len: int,
        done_key: str | tuple) -> TrajectoryState:
    """Append the steps of one stream ``batch`` [T] in time order; storage, step marks and tree in place."""
    fn = f"{_FN}.add"
    capacity, L = lay.capacity, slice_len
    _storage.check_batch(fn, state.storage, batch)
    if batch.batch_dims != 1:
        fail(fn, f"batch has batch size {list(batch.batch_size)}, expected [T]: one stream in "
                 "time order (vmap the buffer for several environments)")
    n_all = batch.batch_size[0]
    rows = _storage.rows(batch, capacity)
    n = rows.batch_size[0]
    dev = state.cursor.device
    t = torch.arange(n, device=dev)
    # Absolute step numbers of the rows kept (the first n_all - n rows of a too-long batch are
    # skipped: they would be overwritten at once).
    step = state.added + (n_all - n) + t
    done = rows.get(done_key).reshape(n, -1).any(-1)
    # An episode starts at a row whose previous step was done (or at the very first step); the
    # previous step of row 0 is the newest stored item, or a skipped row of this batch.
    # The newest stored row is the one before the cursor, (cursor - 1) mod capacity: the ring's last
    # row when the cursor is at row 0.
    last = torch.remainder(state.cursor - 1, capacity)
    # (index_select with a [1] index: indexing with a 0-d tensor would be data-dependent under compile)
    prev_done_stored = state.storage.get(done_key).index_select(0, last.reshape(1)).any() | (state.added == 0)
    prev_done_0 = prev_done_stored if n == n_all else batch.get(done_key)[n_all - n - 1].reshape(-1).any()
    prev_done = torch.cat([prev_done_0.reshape(1), done[:-1]])
    marker = torch.where(prev_done, step, -1)
    # The episode start carried over from the newest stored item (none if this batch's own skipped
    # rows come before row 0).
    if n == n_all:
        carried = state.episode_start.index_select(0, last.reshape(1)).squeeze(0)
    else:
        carried = torch.zeros((), dtype=torch.int64, device=dev)
    episode_start = torch.maximum(torch.cummax(marker, 0).values, carried)
    # Rows go to the ring slots cursor .. cursor + n - 1 (mod capacity), see _storage.write.
    index, cursor, size = _storage.write(state.storage, state.cursor, state.size, rows, capacity)
    state.step.index_put_((index,), step)
    state.episode_start.index_put_((index,), episode_start)
    added = state.added + n_all
    # Slice-end weights change for the new rows and for the L-1 oldest rows after them, whose
    # slices would now reach into overwritten data: the ring run cursor .. cursor + n + L - 2, taken
    # mod capacity like the write. Duplicates (a run longer than the ring) carry equal weights.
    touched = torch.remainder(state.cursor + torch.arange(n + L - 1, device=dev), capacity)
    t_step = state.step.index_select(0, touched)
    t_start = state.episode_start.index_select(0, touched)
    oldest = added - size
    first = t_step - (L - 1)  # step number of the slice's first item
    ok = (t_step >= 0) & (first >= t_start) & (first >= oldest)
    _tree.update_range(lay, state.sum_tree, state.min_tree, state.cursor, n + L - 1, ok.to(torch.float64))
    return state._replace(cursor=cursor, size=size, added=added)


def sample(state: TrajectoryState, key, batch_size: int, *, lay: _tree.Layout, slice_len: int,
           pad: bool) -> tuple[TensorDict, TensorDict]:
    """``batch_size`` slices of ``slice_len`` consecutive steps, with their rows and mask (see `trajectory`)."""
    fn = f"{_FN}.sample"
    capacity, L = lay.capacity, slice_len
    key = as_key(fn, key, state.cursor.device)
    dev = state.cursor.device
    offsets = torch.arange(L, device=dev)
    if pad:
        size = check_not_empty(fn, state.size, state.size, capacity)
        start = fr.randint(key, (batch_size,), 0, torch.clamp(size, min=1))
        # Slice b covers the ring rows start_b .. start_b + L - 1, wrapping past the last row to row 0.
        index = torch.remainder(start.unsqueeze(-1) + offsets, capacity)  # [B, L]
        step = state.step[index]
        # A row belongs to the slice if it is the next step of the same stream (not a wrap into
        # older data, not past the newest item) and of the same episode as the first row.
        mask = (step == step[:, :1] + offsets) & (state.episode_start[index] == state.episode_start[index[:, :1]])
    else:
        # Without padding a slice must end at a row of weight 1: with none (fewer than L steps of one
        # episode stored), the tree's search would return a row that ends no valid slice.
        root = check_not_empty(fn, _tree.total(lay, state.sum_tree), state.size, capacity)
        root = check_values(fn, "the number of full slices", root, root > 0,
                            f"[1, {capacity}]: the buffer holds no {L}-step slice inside one episode "
                            "(add more steps, or use pad=True)")
        # Stratified draws: u_b uniform in [b, b + 1) / batch_size of the number of slice ends.
        strata = torch.arange(batch_size, dtype=torch.float64, device=dev)
        u = (strata + fr.uniform(key, (batch_size,), torch.float64)) * (root / batch_size)
        end = _tree.sample(lay, state.sum_tree, u)
        # The slice ending at row `end` starts L - 1 rows earlier, wrapping below row 0 to the ring's end.
        index = torch.remainder(end.unsqueeze(-1) - (L - 1) + offsets, capacity)
        mask = torch.ones(index.shape, dtype=torch.bool, device=dev)
    batch = _storage.gather(state.storage, index)
    if pad:
        batch = batch.apply(lambda x: torch.where(mask.reshape(*mask.shape, *(1,) * (x.dim() - 2)), x,
                                                  torch.zeros((), dtype=x.dtype, device=x.device)))
    info = TensorDict({"index": index, "mask": mask}, batch_size=[batch_size, L], device=state.storage.device)
    return batch, info


def can_sample(state: TrajectoryState, batch_size: int, *, lay: _tree.Layout, pad: bool) -> torch.Tensor:
    """Whether `sample` has something to draw: one stored item with ``pad``, else one full slice: bool []."""
    del batch_size  # slices are drawn with replacement: one is enough
    if pad:
        return state.size >= 1
    return _tree.total(lay, state.sum_tree) > 0


def trajectory(capacity: int, slice_len: int, pad: bool = False,
               done_key: str | tuple = ("next", "done"), arity: int = 32) -> TrajectoryBuffer:
    """A ring buffer over one stream of transitions that samples slices of ``slice_len`` steps.

    Items are added in time order (``add`` takes ``[T]`` batches of one stream); an episode ends at
    an item whose ``done_key`` is True. For several environments, vmap the buffer: an ensemble of
    buffers, one per environment.

    Args:
        capacity: the number of items kept.
        slice_len: L, the length of the sampled slices.
        pad: False: every slice is L steps of one episode, drawn uniformly among all such slices
            (slice ends are kept in a sum tree of 0/1 weights, so no rejection loop is needed). True:
            a slice starts at a uniformly drawn item and runs for L rows; the steps past its
            episode's end (or past the newest item) are zeros and ``info["mask"]`` is False there.
        done_key: the key of the episode-end flag.
        arity: children per sum-tree node.

    Returns:
        A `TrajectoryBuffer`: ``init``, ``add`` (in place, as in `uniform`),
        ``sample(state, key, batch_size) -> (batch [batch_size, L], info)`` with ``info["index"]``
        [batch_size, L] storage rows and ``info["mask"]`` [batch_size, L] bool, and ``can_sample``.
        Sampling an empty buffer, or (without ``pad``) one that holds no full slice, raises
        RuntimeError (a value check: see `frl.set_value_checks`).

    Example:
        >>> buf = frl.buffers.trajectory(capacity=100_000, slice_len=16)
        >>> state = buf.add(buf.init(transition), rollout)  # rollout: [T] of one env
        >>> seq, info = buf.sample(state, key, 32)           # seq: [32, 16]

    References:
        The sequence replay of R2D2: Kapturowski et al., "Recurrent Experience Replay in Distributed
        Reinforcement Learning", ICLR 2019.
    """
    check_capacity(_FN, capacity)
    if not isinstance(slice_len, int) or not 1 <= slice_len <= capacity:
        fail(_FN, f"slice_len must be an int in [1, capacity], got {slice_len!r}")
    lay = _tree.layout(capacity, arity)
    return TrajectoryBuffer(
        init=functools.partial(init, lay=lay, done_key=done_key),
        add=functools.partial(add, lay=lay, slice_len=slice_len, done_key=done_key),
        sample=functools.partial(sample, lay=lay, slice_len=slice_len, pad=pad),
        can_sample=functools.partial(can_sample, lay=lay, pad=pad),
        capacity=capacity,
    )
