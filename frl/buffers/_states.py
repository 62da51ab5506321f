"""The state of every buffer: frozen NamedTuples of tensors, apart from the functions over them.

They live in their own module so that both the buffers (which build and update states) and
`frl.buffers.persist` (which saves and loads them) can import them without importing each other.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from tensordict import TensorDictBase

__all__ = ["BufferState", "PrioritizedState", "EpochState", "TrajectoryState", "STATE_TYPES"]


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


#: Every state type by name: the name is what a saved buffer records (see `frl.buffers.persist`).
STATE_TYPES: dict[str, type] = {cls.__name__: cls for cls in (BufferState, PrioritizedState, EpochState,
                                                               TrajectoryState)}
