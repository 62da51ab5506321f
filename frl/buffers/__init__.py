"""Functional replay buffers: ``init / add / sample / update_priorities`` over an explicit state."""

from frl.buffers.prioritized import PrioritizedBuffer, PrioritizedState, prioritized
from frl.buffers.uniform import BufferState, UniformBuffer, uniform

__all__ = ["uniform", "UniformBuffer", "BufferState", "prioritized", "PrioritizedBuffer", "PrioritizedState"]
