"""Trajectory (slice) replay: sample [batch, L] sequences of consecutive steps of one stream."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

import frl.random as frandom
from frl._checks import fail, fmt_key
from frl.buffers import _storage, _tree
from frl.buffers.uniform import _check_capacity

__all__ = ["TrajectoryState", "TrajectoryBuffer", "trajectory"]


class TrajectoryState(NamedTuple):
    """State of a trajectory buffer.

    Attributes:
        storage, cursor, size: as in `frl.buffers.BufferState`.
        step: int64 [capacity]: the absolute step number of each stored item (0 for the first item
            ever added): consecutive rows belong together only if their step numbers are consecutive.
        episode_start: int64 [capacity]: the step number of the first step of each item's episode.
        added: int64 []: the number of items ever added.
        sum_tree, min_tree: float64 [nodes]: a sum tree with weight 1 on every row that can *end* a
            full slice (its slice lies in one episode and in stored data), 0 elsewhere.
    """

    storage: TensorDictBase
    cursor: torch.Tensor
    size: torch.Tensor
    step: torch.Tensor
    episode_start: torch.Tensor
    added: torch.Tensor
    sum_tree: torch.Tensor
    min_tree: torch.Tensor


class TrajectoryBuffer(NamedTuple):
    """The pure functions of a trajectory buffer (see `trajectory`)."""

    init: Callable
    add: Callable
    sample: Callable
    can_sample: Callable
    capacity: int


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

    Example:
        >>> buf = frl.buffers.trajectory(capacity=100_000, slice_len=16)
        >>> state = buf.add(buf.init(transition), rollout)  # rollout: [T] of one env
        >>> seq, info = buf.sample(state, key, 32)           # seq: [32, 16]

    References:
        The sequence replay of R2D2: Kapturowski et al., "Recurrent Experience Replay in Distributed
        Reinforcement Learning", ICLR 2019.
    """
    fn = "frl.buffers.trajectory"
    _check_capacity(fn, capacity)
    if not isinstance(slice_len, int) or not 1 <= slice_len <= capacity:
        fail(fn, f"slice_len must be an int in [1, capacity], got {slice_len!r}")
    lay = _tree.layout(capacity, arity)
    L = slice_len

    def init(example: TensorDictBase, device=None, path=None) -> TrajectoryState:
        lazy = path is not None
        storage = _storage.allocate(example, capacity, device, lazy=lazy)
        if done_key not in storage.keys(include_nested=True, leaves_only=True):
            fail(f"{fn}.init", f"example has no key {fmt_key(done_key)} (the episode-end flag)", KeyError)
        dev = storage.device
        zero = torch.zeros((), dtype=torch.int64, device=dev)
        state = TrajectoryState(
            storage, zero, zero.clone(), _storage.full((capacity,), -1, torch.int64, dev, lazy),
            _storage.full((capacity,), 0, torch.int64, dev, lazy), zero.clone(),
            _storage.full((lay.num_nodes,), 0.0, torch.float64, dev, lazy),
            _storage.full((lay.num_nodes,), float("inf"), torch.float64, dev, lazy))
        return _storage.finish(state, path)

    def add(state: TrajectoryState, batch: TensorDictBase) -> TrajectoryState:
        _storage.check_batch(f"{fn}.add", state.storage, batch)
        if batch.batch_dims != 1:
            fail(f"{fn}.add", f"batch has batch size {list(batch.batch_size)}, expected [T]: one stream in "
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
        last = torch.remainder(state.cursor - 1, capacity)
        # (index_select with a [1] index: indexing with a 0-d tensor would be data-dependent under compile)
        prev_done_stored = state.storage.get(done_key).index_select(0, last.reshape(1)).any() | (state.added == 0)
        prev_done_0 = prev_done_stored if n == n_all else batch.get(done_key)[n_all - n - 1].reshape(-1).any()
        prev_done = torch.cat([prev_done_0.reshape(1), done[:-1]])
        marker = torch.where(prev_done, step, -1)
        carried = state.episode_start.index_select(0, last.reshape(1)).squeeze(0) if n == n_all else torch.zeros((), dtype=torch.int64, device=dev)
        episode_start = torch.maximum(torch.cummax(marker, 0).values, carried)
        index, cursor, size = _storage.write(state.storage, state.cursor, state.size, rows, capacity)
        state.step.index_put_((index,), step)
        state.episode_start.index_put_((index,), episode_start)
        added = state.added + n_all
        # Slice-end weights change for the new rows and for the L-1 oldest rows after them, whose
        # slices would now reach into overwritten data. Duplicates (a wrap) carry equal weights.
        touched = torch.remainder(state.cursor + torch.arange(n + L - 1, device=dev), capacity)
        t_step = state.step.index_select(0, touched)
        t_start = state.episode_start.index_select(0, touched)
        oldest = added - size
        first = t_step - (L - 1)  # step number of the slice's first item
        ok = (t_step >= 0) & (first >= t_start) & (first >= oldest)
        _tree.update_range(lay, state.sum_tree, state.min_tree, state.cursor, n + L - 1, ok.to(torch.float64))
        return state._replace(cursor=cursor, size=size, added=added)

    def sample(state: TrajectoryState, key, batch_size: int):
        key = _storage.as_key(f"{fn}.sample", key, state.cursor.device)
        dev = state.cursor.device
        offsets = torch.arange(L, device=dev)
        if pad:
            start = frandom.randint(key, (batch_size,), 0, torch.clamp(state.size, min=1))
            index = torch.remainder(start.unsqueeze(-1) + offsets, capacity)  # [B, L]
            step = state.step[index]
            # A row belongs to the slice if it is the next step of the same stream (not a wrap into
            # older data, not past the newest item) and of the same episode as the first row.
            mask = (step == step[:, :1] + offsets) & (state.episode_start[index] == state.episode_start[index[:, :1]])
        else:
            root = _tree.total(lay, state.sum_tree)
            strata = torch.arange(batch_size, dtype=torch.float64, device=dev)
            u = (strata + frandom.uniform(key, (batch_size,), torch.float64)) * (root / batch_size)
            end = _tree.sample(lay, state.sum_tree, u)
            index = torch.remainder(end.unsqueeze(-1) - (L - 1) + offsets, capacity)
            mask = torch.ones(index.shape, dtype=torch.bool, device=dev)
        batch = _storage.gather(state.storage, index)
        if pad:
            batch = batch.apply(lambda x: torch.where(mask.reshape(*mask.shape, *(1,) * (x.dim() - 2)), x,
                                                      torch.zeros((), dtype=x.dtype, device=x.device)))
        info = TensorDict({"index": index, "mask": mask}, batch_size=[batch_size, L], device=state.storage.device)
        return batch, info

    def can_sample(state: TrajectoryState, batch_size: int) -> torch.Tensor:
        if pad:
            return state.size >= 1
        return _tree.total(lay, state.sum_tree) > 0

    return TrajectoryBuffer(init, add, sample, can_sample, capacity)
