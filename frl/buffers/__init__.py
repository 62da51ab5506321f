"""Functional replay buffers: ``init / add / sample / update_priorities`` over an explicit state.

A factory (`uniform`, `prioritized`, `without_replacement`, `trajectory`) validates its settings
once and returns a NamedTuple of pure functions over a buffer state (a NamedTuple of tensors and a
storage TensorDict), so buffers run eagerly, under torch.func.vmap (an ensemble of buffers) and
inside torch.compile. ``add`` and ``update_priorities`` write the storage and trees in place and
return the state that holds them: treat the state you passed in as consumed.

As in flashbax, the pieces are module-level pure functions of each buffer's module (e.g.
``from frl.buffers.uniform import init, add, sample, can_sample``) whose settings are keyword-only
arguments; the factories check the settings once and bind them with functools.partial. The state
types live in ``_states`` and the checks every buffer shares in ``_common``.
"""

from frl.buffers import offline
from frl.buffers.persist import load, memmap, save
from frl.buffers.prefetch import Prefetcher, prefetch
from frl.buffers.prioritized import PrioritizedBuffer, PrioritizedState, prioritized
from frl.buffers.trajectory import TrajectoryBuffer, TrajectoryState, trajectory
from frl.buffers.uniform import BufferState, UniformBuffer, uniform
from frl.buffers.without_replacement import EpochBuffer, EpochState, without_replacement

__all__ = [
    "uniform", "UniformBuffer", "BufferState",
    "prioritized", "PrioritizedBuffer", "PrioritizedState",
    "without_replacement", "EpochBuffer", "EpochState",
    "trajectory", "TrajectoryBuffer", "TrajectoryState",
    "save", "load", "memmap",
    "prefetch", "Prefetcher",
    "offline",
]
